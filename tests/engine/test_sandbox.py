"""Student code in the child: results come back as plain data, failures as clear errors."""
import os
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.engine.proxy import (BadReturnValue, MissingFunction, NotCalledAgain, StaleHandle,
                                     StudentCrash, StudentException, StudentImportError,
                                     StudentTimeout)
from .conftest import PROJECT_ROOT


def test_values_and_handles_round_trip(make_module):
    mod = make_module("""
        import numpy as np
        def forward(x):
            return x * 2, {"x": x, "note": object()}
        def backward(dout, cache):
            return dout * cache["x"]
    """, opaque={"forward": [1]})
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    out, cache = mod.forward(x)
    assert np.array_equal(out, 2 * x) and "kept in the sandbox" in repr(cache)
    assert np.array_equal(mod.backward(np.ones_like(x), cache), x)


def test_exception_carries_type_message_and_student_traceback(make_module):
    mod = make_module("""
        class Oops(ValueError):
            pass
        def f(x):
            raise Oops("filter does not fit")
    """)
    with pytest.raises(StudentException) as info:
        mod.f(1)
    assert info.value.is_a("ValueError") and info.value.type_name == "Oops"
    assert "filter does not fit" in str(info.value) and 'File "mod.py", line 5' in str(info.value)


def test_syntax_error_and_missing_function_are_named(make_module):
    with pytest.raises(StudentImportError, match="SyntaxError"):
        make_module("def f(:\n    pass\n").f()
    with pytest.raises(MissingFunction, match="no attribute 'g'"):
        make_module("def f():\n    return 1\n").g()


def test_unencodable_return_value_is_reported(make_module):
    mod = make_module("""
        class AlwaysEqual:
            def __eq__(self, other):
                return True
        def f():
            return AlwaysEqual()
    """)
    with pytest.raises(BadReturnValue, match="AlwaysEqual"):
        mod.f()


def test_infinite_loop_times_out_and_the_next_call_works(make_module):
    mod = make_module("""
        def spin():
            while True:
                pass
        def ok():
            return 42
    """, call_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(StudentTimeout, match="did not finish within 1.0 s"):
        mod.spin()
    assert time.monotonic() - started < 5
    assert mod.ok() == 42


SPIN = "    while True:\n        pass\n"


def test_timed_out_function_is_not_called_again(make_module):
    mod = make_module(f"def spin():\n{SPIN}\ndef quick():\n    return 1\n", call_timeout=1.0,
                      part_timeout=60)
    with pytest.raises(StudentTimeout, match="did not finish within 1.0 s"):
        mod.spin()
    with pytest.raises(NotCalledAgain, match=r"spin timed out earlier in this part \(1 s limit\); "
                                             "not called again"):
        mod.spin()
    assert mod.quick() == 1


def test_part_budget_stops_further_calls(make_module):
    mod = make_module(f"def spin():\n{SPIN}\ndef spin_too():\n{SPIN}\ndef quick():\n    return 1\n",
                      call_timeout=1.0, part_timeout=1.5)
    with pytest.raises(StudentTimeout, match="did not finish within"):
        mod.spin()
    # cut short to what is left, or (when the restart used it up) not run at all
    with pytest.raises(StudentTimeout, match="s left of the part's time budget of 2 s|is used up"):
        mod.spin_too()
    with pytest.raises(StudentTimeout, match="time budget of 2 s is used up"):
        mod.quick()


@pytest.mark.parametrize("body, match", [
    ("import os; os._exit(0)", "exited with code 0"),
    ("import ctypes; ctypes.string_at(0)", "SIGSEGV"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "SIGKILL"),
])
def test_crashes_are_described(make_module, body, match):
    mod = make_module(f"def f():\n    {body}\n")
    with pytest.raises(StudentCrash, match=match):
        mod.f()


@pytest.mark.parametrize("body, match", [
    ("import sys; sys.exit(0)", "sys.exit"),
    ("raise KeyboardInterrupt", "KeyboardInterrupt"),
])
def test_exit_and_interrupt_are_exceptions_not_successes(make_module, body, match):
    with pytest.raises(StudentException, match=match):
        make_module(f"def f():\n    {body}\n").f()


def test_memory_bomb_fails_only_the_call(make_module):
    mod = make_module("""
        def bomb():
            return bytearray(8 * 1024**3)
        def ok():
            return 1
    """, memory_mb=512)
    with pytest.raises((StudentException, StudentCrash), match="MemoryError|killed"):
        mod.bomb()
    assert mod.ok() == 1


def test_huge_output_is_bounded(make_module):
    mod = make_module("""
        def chatty():
            for i in range(1_000_000):
                print("line", i)
            return 7
    """, max_output_kb=16)
    assert mod.chatty() == 7
    text = mod._session.sandbox.output()
    assert len(text) < 20_000 and "more bytes of output not shown" in text


def test_handles_do_not_survive_a_restart(make_module):
    mod = make_module("""
        import os
        def make():
            return [object()]
        def use(h):
            return 1
        def die():
            os._exit(1)
    """, opaque={"make": "all"})
    handle = mod.make()
    with pytest.raises(StudentCrash):
        mod.die()
    with pytest.raises(StaleHandle):
        mod.use(handle)


def test_in_place_modification_is_detected(make_module):
    mod = make_module("def f(x, y):\n    x[0] = 99\n    return 0\n")
    x, y = np.zeros(3), np.ones(2)
    result = mod.f.call((x, y), check_mutation=True)
    assert result.mutated_args == [0] and x[0] == 0  # the grader's copy is untouched


def test_forbidden_import_is_refused_with_reason(make_module, tmp_path):
    from autograder.engine.proxy import StudentModule

    mod = make_module("import scipy.signal\ndef f():\n    return 1\n")
    strict = StudentModule(mod._session, "mod", forbid=("scipy",), forbid_reason="numpy only")
    with pytest.raises(StudentImportError, match="not allowed here: numpy only"):
        strict.f()


def _host_processes_matching(text: str) -> list:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_processes_left_behind_are_killed_on_close(make_module):
    mod = make_module("""
        import subprocess
        def spawn():
            subprocess.Popen(["sleep", "4242.5"], start_new_session=True)
            subprocess.Popen(["sh", "-c", "setsid sleep 4242.5 &"])
            return 1
    """)
    assert mod.spawn() == 1
    time.sleep(0.3)
    assert _host_processes_matching("4242.5"), "the test's own processes did not start"
    mod._session.sandbox.close()
    time.sleep(0.3)
    assert _host_processes_matching("4242.5") == []


def test_fork_bomb_is_contained(make_module, isolation):
    """Forking without end is refused where a process limit applies, and whatever was forked is
    gone once the sandbox closes. Root without a uid of its own ignores RLIMIT_NPROC: there, on
    an idle machine, every fork may succeed, and the kill on close alone contains them."""
    mod = make_module("""
        import os
        def bomb():
            for _ in range(2_000):
                try:
                    if os.fork() == 0:
                        os.execv("/bin/sleep", ["sleep", "61.4243"])
                except OSError:
                    return "refused"
            return "not refused"
    """, max_processes=32, call_timeout=20)
    try:
        outcome = mod.bomb()
    except (StudentTimeout, StudentCrash):
        outcome = "stopped"
    if isolation.switch_user or os.geteuid() != 0:
        assert outcome in ("refused", "stopped")
    mod._session.sandbox.close()
    time.sleep(0.3)
    assert _host_processes_matching("61.4243") == []


def test_grader_files_hidden_no_network_unprivileged(make_module, isolation):
    if not isolation.namespaces:
        pytest.skip("only the namespace modes hide files and the network")
    mod = make_module(f"""
        import os, socket
        def probe():
            seen = {{}}
            for path in [{str(PROJECT_ROOT / "reference")!r}, {str(PROJECT_ROOT / "autograder")!r},
                         "/root", "/proc/1/environ"]:
                try:
                    seen[path] = sorted(os.listdir(path)) if os.path.isdir(path) else "read"
                    if not os.path.isdir(path):
                        open(path, "rb").read()
                except OSError as exc:
                    seen[path] = type(exc).__name__
            try:
                socket.create_connection(("1.1.1.1", 53), timeout=2)
                seen["net"] = "connected"
            except OSError as exc:
                seen["net"] = type(exc).__name__
            seen["uid"] = os.getuid()
            seen["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
            return seen
    """)
    seen = mod.probe()
    assert seen[str(PROJECT_ROOT / "reference")] in ([], "FileNotFoundError")
    assert seen[str(PROJECT_ROOT / "autograder")] in ([], "FileNotFoundError")
    assert seen["net"] != "connected"
    assert max(seen["pids"]) < 50, "the child sees the host's processes"
    if isolation.switch_user:
        assert seen["uid"] != 0
        assert seen["/proc/1/environ"] != "read"


def test_views_of_inputs_and_edited_dicts_are_reported(make_module):
    mod = make_module("""
        def forward(x, param):
            param["stride"] = 2
            return x[:, :1], ("cache", x)
    """, opaque={"forward": [1]})
    result = mod.forward.call((__import__("numpy").ones((2, 2)), {"stride": 1}), check_mutation=True)
    assert result.mutated_args == [1]
    assert result.aliases == [[0, 0]]  # the cache (position 1, opaque) may hold x


def test_denied_package_stays_unusable_even_without_the_import_hook(tmp_path, isolation):
    """The namespace modes hide the package's folder; in every mode, the grader fails a call
    after which the child has the package's libraries loaded."""
    from autograder.engine.proxy import Session, StudentModule
    from autograder.engine.sandbox import Limits, Sandbox

    (tmp_path / "mod.py").write_text(
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'Forbidden' not in type(f).__name__]\n"
        "def f():\n"
        "    import torch.nn.functional\n"
        "    return 'imported'\n")
    sandbox = Sandbox(tmp_path, Limits(call_timeout=60), isolation, (PROJECT_ROOT,), ("torch",), "numpy only")
    try:
        mod = StudentModule(Session(sandbox, 120), "mod")
        if isolation.namespaces:
            with pytest.raises(StudentException, match="ModuleNotFoundError|ImportError"):
                mod.f()
        else:
            with pytest.raises(StudentCrash, match=r"loaded .*\.so of a package this part refuses \(numpy only\)"):
                mod.f()
    finally:
        sandbox.close()


def test_live_sandboxes_never_share_a_uid(tmp_path):
    from autograder.engine.sandbox import Isolation, Limits, Sandbox

    boxes = [Sandbox(tmp_path, Limits(), Isolation("process", switch_user=True)) for _ in range(20)]
    try:
        assert len({box.uid for box in boxes}) == 20
    finally:
        for box in boxes:
            box.close()


def test_only_the_allow_list_exists_for_the_child(make_module, isolation, tmp_path):
    """A second copy of the project, the host's /etc and data folders are not there at all."""
    import shutil

    if not isolation.namespaces:
        pytest.skip("only the namespace modes give the child a root of its own")
    second_copy = tmp_path / "second-copy"
    shutil.copytree(PROJECT_ROOT / "reference", second_copy / "reference",
                    ignore=shutil.ignore_patterns("*.pt", "__pycache__"))
    mod = make_module(f"""
        import os, sys
        def probe():
            seen = {{}}
            for path in [{str(second_copy)!r}, "/work", "/opt", "/home", "/var", "/etc/shadow"]:
                seen[path] = os.path.exists(path)
            sys.path.insert(0, {str(second_copy)!r})
            try:
                import reference
                seen["import reference"] = True
            except ImportError:
                seen["import reference"] = False
            seen["passwd names root's home"] = "/root" in open("/etc/passwd").read()
            seen["root"] = sorted(os.listdir("/"))
            return seen
    """)
    from autograder.engine.sandbox import _python_paths

    seen = mod.probe()
    # Folders above the Python installation are there, holding only the way to it.
    on_the_way = {str(parent) for path in _python_paths() for parent in Path(path).parents}
    assert [k for k, v in seen.items() if v is True and k not in on_the_way] == [], seen
    assert set(seen["root"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc",
                                 "sbin", "sys", "tmp", "usr"} | {p.split("/")[1] for p in on_the_way if p != "/"}


def test_hiding_a_parent_of_the_sandbox_folders_keeps_them(tmp_path, isolation):
    """``grade run /tmp/x`` hides /tmp, where the sandbox's own folders live: they stay."""
    from autograder.engine.proxy import Session, StudentModule
    from autograder.engine.sandbox import Limits, Sandbox

    (tmp_path / "mod.py").write_text("def f():\n    return 42\n")
    sandbox = Sandbox(tmp_path, Limits(call_timeout=30), isolation, ("/tmp", str(tmp_path), "/"))
    try:
        assert StudentModule(Session(sandbox, 60), "mod").f() == 42
    finally:
        sandbox.close()
