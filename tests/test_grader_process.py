"""The trusted grader process stays small: grading every part never imports torch there.

torch costs about 200 MB per process; the CIFAR-10 part already runs it in two sandboxed
children (the student's and the reference's), and Gradescope gives the whole container 768 MB.
Only the children may import it.
"""
import subprocess
import sys
import textwrap

from autograder.parts import part_names

GRADE_ALL_PARTS = textwrap.dedent("""
    import sys, tempfile
    from pathlib import Path
    from autograder.examples import build_submission
    from autograder.run import RunOptions, grade_submission
    from reference.cifar10_data import write_fake_cifar10

    tmp = Path(tempfile.mkdtemp())
    write_fake_cifar10(tmp / "data", n_train_per_batch=16, n_test=50)
    result = grade_submission(build_submission("reference", tmp / "reference"),
                              options=RunOptions(data_dir=str(tmp / "data")))
    print("parts:", sorted(part.name for part in result.parts))
    print("grader errors:", [t.name for t in result.tests if t.grader_error])
    print("torch modules:", sorted(m for m in sys.modules if m.split(".")[0] == "torch")[:3])
""")


def test_grading_every_part_keeps_torch_out_of_the_grader():
    run = subprocess.run([sys.executable, "-c", GRADE_ALL_PARTS], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = dict(line.partition(": ")[::2] for line in run.stdout.splitlines())
    assert lines["parts"] == str(sorted(part_names()))
    assert lines["grader errors"] == "[]"
    assert lines["torch modules"] == "[]", run.stdout
