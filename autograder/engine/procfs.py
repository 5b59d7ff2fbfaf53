"""The one reader of /proc's process list, for the sandbox's orphan sweep and the timing guard."""
from __future__ import annotations

import os


def process_table(with_uids: bool = False) -> dict:
    """pid -> (parent pid, owner uid, or None unless ``with_uids``) of every process now;
    processes that exit while being read are left out."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            uid = entry.stat().st_uid if with_uids else None
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry.name)] = (ppid, uid)
    return table
