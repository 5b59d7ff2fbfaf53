"""Ready-made submissions: the reference laid out as a student would hand it in, and the handout."""
from __future__ import annotations

import shutil
from pathlib import Path

import reference
from autograder.config import load_config

REFERENCE_DIR = Path(reference.__file__).resolve().parent
HANDOUT_DIR = REFERENCE_DIR.parent / "assignments"


def build_submission(which: str, dest: Path) -> Path:
    """Copy the student files of ``which`` ("reference" or "handout") into the new folder ``dest``."""
    source = {"reference": REFERENCE_DIR, "handout": HANDOUT_DIR}[which]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=False)
    for name in (f for part in load_config().parts.values() for f in part.files):
        if (source / name).is_file():
            shutil.copyfile(source / name, dest / name)
    return dest
