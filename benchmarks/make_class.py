"""Write a class folder of generated submissions, to time ``grade batch`` on something like a class.

    python -m benchmarks.make_class DEST [--students 50] [--seed 0]
    grade batch DEST --part shapes --part layers --part fast_layers --jobs 2

The mix, for 50 students: 31 copies of the reference, 12 with one bug (24%), 2 unfinished (the
handout's stubs, a file missing) and 5 hostile (reading the other submissions, forging the
gradebook, hanging, exhausting memory, killing its own process). Every fifth one is handed in
as a .zip. Each file starts with a comment naming its student, so no two submissions
are identical and the batch cannot grade one and reuse the result for another.
"""
from __future__ import annotations

import argparse
import random
import zipfile
from pathlib import Path

from autograder.examples import HANDOUT_DIR, REFERENCE_DIR

FILES = ("shapes.py", "layers.py", "fast_layers.py")

# Each bug: (file, code appended to the reference's file, redefining one function).
BUGS = [
    ("shapes.py", '''
def same_padding(kernel_size):  # off by one, and no error for even kernels
    return (kernel_size + 1) // 2
'''),
    ("shapes.py", '''
_conv_param_count = conv_param_count
def conv_param_count(in_channels, out_channels, kernel_size, bias=True):  # forgets the biases
    return _conv_param_count(in_channels, out_channels, kernel_size, False)
'''),
    ("layers.py", '''
def relu_backward(dout, cache):  # passes the gradient through where the input was negative
    return dout.copy()
'''),
    ("layers.py", '''
_max_pool_backward_naive = max_pool_backward_naive
def max_pool_backward_naive(dout, cache):  # spreads the gradient evenly over each window
    dx = _max_pool_backward_naive(dout, cache)
    return dx * 0 + dx.mean()
'''),
    ("fast_layers.py", '''
_conv_forward_fast = conv_forward_fast
def conv_forward_fast(x, w, b, conv_param):  # drops the bias
    return _conv_forward_fast(x, w, 0 * b, conv_param)
'''),
]

# Each attack: (file, code appended to the reference's file). {class_dir} is the class folder.
ATTACKS = {
    "peek": ("shapes.py", '''
import os as _os
for _root, _dirs, _files in _os.walk({class_dir!r}):
    for _name in _files:
        try:
            print("read", _name, len(open(_os.path.join(_root, _name), "rb").read()))
        except OSError:
            pass
'''),
    "forge": ("shapes.py", '''
try:
    with open({gradebook!r}, "w") as _f:
        _f.write("student,total\\nme,100\\n")
except OSError:
    pass
'''),
    "hang": ("layers.py", '''
def relu_forward(x):  # never returns
    while True:
        pass
'''),
    "memory": ("layers.py", '''
import numpy as _np
def relu_backward(dout, cache):  # asks for 80 GB
    return _np.ones((10**10,)) * 0
'''),
    "suicide": ("fast_layers.py", '''
import os as _os
def max_pool_forward_fast(x, pool_param):  # kills its own process
    _os.kill(_os.getpid(), 9)
'''),
}


def make_class(dest: Path, students: int = 50, seed: int = 0) -> list:
    """Write ``students`` submissions into ``dest`` (created); return (name, kind) pairs."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    kinds = _mix(students, seed)
    for index, kind in enumerate(kinds, start=1):
        name = f"student_{index:03d}"
        files = _files(kind, name, dest.resolve())
        if index % 5 == 0:
            with zipfile.ZipFile(dest / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
                for file, text in files.items():
                    archive.writestr(file, text)
        else:
            (dest / name).mkdir()
            for file, text in files.items():
                (dest / name / file).write_text(text)
    return [(f"student_{i:03d}", kind) for i, kind in enumerate(kinds, start=1)]


def _mix(students: int, seed: int) -> list:
    hostile = [f"hostile:{name}" for name in ATTACKS]
    buggy = [f"buggy:{i % len(BUGS)}" for i in range(round(students * 0.24))]
    unfinished = ["handout", "missing"][:max(0, students - len(hostile) - len(buggy))]
    kinds = (hostile + buggy + unfinished)[:students]
    kinds += ["reference"] * (students - len(kinds))
    random.Random(seed).shuffle(kinds)
    return kinds


def _files(kind: str, student: str, class_dir: Path) -> dict:
    source = HANDOUT_DIR if kind == "handout" else REFERENCE_DIR
    files = {name: f"# {student}\n" + (source / name).read_text() for name in FILES}
    if kind == "missing":
        del files["fast_layers.py"]
    elif kind.startswith("buggy:"):
        file, code = BUGS[int(kind.split(":")[1])]
        files[file] += code
    elif kind.startswith("hostile:"):
        file, code = ATTACKS[kind.split(":")[1]]
        files[file] += code.format(class_dir=str(class_dir), gradebook=str(class_dir.parent / "gradebook.csv"))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dest", type=Path, help="the class folder to create")
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    kinds = make_class(args.dest, args.students, args.seed)
    counts: dict = {}
    for _, kind in kinds:
        counts[kind.split(":")[0]] = counts.get(kind.split(":")[0], 0) + 1
    print(f"wrote {len(kinds)} submissions to {args.dest}: "
          + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
