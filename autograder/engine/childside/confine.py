"""The allow-list without namespaces: Landlock and a seccomp filter, for the ``process`` mode.

Where the host refuses namespaces (see ``sandbox.detect_isolation``), the child confines itself
before any student code runs, with what an unprivileged process may do to itself:

* Landlock (Linux 5.13+): files are reachable only beneath the paths the grader allows (Python
  and system folders read-only, the working folder and the shared folder writable), so nothing
  is written to the host's /tmp or /dev/shm and nothing outside is read; from Landlock ABI 4 no
  TCP connection or bind; from ABI 6 no signal to, and no abstract unix socket of, a process
  outside the sandbox. Landlock also refuses ptrace of, and /proc/PID/environ of, outside
  processes.
* seccomp: SysV shared memory, semaphores, message queues and POSIX message queues cannot be
  created (no IPC namespace keeps them private or removes them), nor can syscalls of another
  architecture's table be made (their numbers would slip past the filter).

Both stay in force for every process the child starts, and cannot be lifted.
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import sys

# Landlock (include/uapi/linux/landlock.h); its syscalls share one number on every architecture.
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION, RULE_PATH_BENEATH = 1, 1
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
MAKE_CHAR, MAKE_BLOCK, TRUNCATE, IOCTL_DEV = 1 << 6, 1 << 11, 1 << 14, 1 << 15
# Every file-system right a Landlock ABI knows (bits 0-12 in ABI 1, REFER 2, TRUNCATE 3, IOCTL_DEV 5).
FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
FS_RIGHTS_LATEST = (1 << 16) - 1
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # the only ones a file rule may hold
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
READ_ONLY = EXECUTE | READ_FILE | READ_DIR
DEVICE = READ_FILE | WRITE_FILE
# In its own folders the child may do anything but make device nodes (root could reach a disk).
WRITABLE = FS_RIGHTS_LATEST & ~(MAKE_CHAR | MAKE_BLOCK | IOCTL_DEV)

# seccomp (linux/seccomp.h, linux/filter.h, linux/audit.h)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
BPF_LD_W_ABS, BPF_JEQ_K, BPF_JGE_K, BPF_RET_K = 0x20, 0x15, 0x35, 0x06
X32_SYSCALL_BIT = 0x40000000
# (audit arch, {shmget, semget, msgget, mq_open}) per machine
LINUX = sys.platform.startswith("linux")
IPC_SYSCALLS = {"x86_64": (0xC000003E, (29, 64, 68, 240)),
                "aarch64": (0xC00000B7, (194, 190, 186, 180))}


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers (0: none, or disabled)."""
    if not LINUX:  # the syscall numbers below mean something else elsewhere (macOS)
        return 0
    version = _libc().syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                              ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(version, 0)


def seccomp_supported() -> bool:
    return LINUX and platform.machine() in IPC_SYSCALLS


def restrict_files(read_only: list, read_write: list, devices: list) -> int:
    """Make only these paths reachable, for good; returns the Landlock ABI applied (0: none,
    nothing restricted). Paths that do not exist are skipped."""
    abi = landlock_abi()
    if abi == 0:
        return 0
    libc = _libc()
    fs = FS_RIGHTS_BY_ABI.get(abi, FS_RIGHTS_LATEST)
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("<QQQ", fs, net, scoped)[:8 if abi < 4 else 16 if abi < 6 else 24]
    ruleset = libc.syscall(SYS_CREATE_RULESET, attr, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        raise _error("landlock_create_ruleset")
    try:
        for paths, rights in ((read_only, READ_ONLY), (read_write, WRITABLE), (devices, DEVICE)):
            for path in paths:
                _allow(libc, ruleset, path, rights & fs)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if libc.syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise _error("landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


def _allow(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rule = struct.pack("<Qi", rights, fd)
        if libc.syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                        rule, ctypes.c_uint32(0)) != 0:
            raise _error(f"landlock_add_rule {path}")
    finally:
        os.close(fd)


def refuse_ipc() -> bool:
    """Refuse (EPERM) SysV and POSIX message-queue IPC objects from now on; False where this
    machine's syscall table is not known here."""
    if not seccomp_supported():
        return False
    arch, numbers = IPC_SYSCALLS[platform.machine()]
    deny = SECCOMP_RET_ERRNO | errno.EPERM
    program = [(BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
               (BPF_JEQ_K, 1, 0, arch), (BPF_RET_K, 0, 0, deny),
               (BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
               (BPF_JGE_K, len(numbers) + 1, 0, X32_SYSCALL_BIT)]
    program += [(BPF_JEQ_K, len(numbers) - i, 0, nr) for i, nr in enumerate(numbers)]
    program += [(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW), (BPF_RET_K, 0, 0, deny)]
    filters = b"".join(struct.pack("<HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(filters)
    fprog = struct.pack("<HxxxxxxQ", len(program), ctypes.addressof(buffer))
    libc = _libc()
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0) != 0:
        raise _error("seccomp")
    return True


def _error(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")
