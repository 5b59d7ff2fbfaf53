"""The ``grade`` command. Thin on purpose: each verb's work lives in its own module."""
from __future__ import annotations

import json
from pathlib import Path

import click

from autograder.audit.command import command as audit_command
from autograder.check import command as check_command
from autograder.parts import part_names

PARTS_HELP = f"Grade only this part (repeatable): {', '.join(part_names())}."
DATA_HELP = ("Folder with the data a part reads (each part's part.toml declares its data and where "
             "it is looked for without this, e.g. an environment variable, then ./data).")


class CommandError(click.ClickException):
    """What was asked cannot be done: one line on stderr (``Error: ...``), exit code 2."""

    exit_code = 2


def _input_errors() -> tuple:
    """The library's errors about what the user gave (a config, a data folder, a class folder),
    each already one line naming the file, the key and the value. Imported only once one is
    raised, so that `grade --help` loads nothing."""
    from autograder.batch.discover import ClassFolderError
    from autograder.batch.grade import BatchError
    from autograder.config import ConfigError
    from autograder.data import DataError
    from autograder.package import PackageError
    from autograder.run import GraderError
    from autograder.scaffold import ScaffoldError
    from reference.cifar10_data import CIFAR10DataError  # grade train-reference's

    return (ConfigError, GraderError, DataError, CIFAR10DataError, BatchError, ClassFolderError,
            PackageError, ScaffoldError)


class GradeCommands(click.Group):
    """Every command's errors about its input take the same path: one line, exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _input_errors() as exc:
            raise CommandError(str(exc)) from None


class ExistingPath(click.ParamType):
    """A file or folder that must exist; when it does not, one line and exit code 2 (where
    ``click.Path(exists=True)`` prints a three-line usage message)."""

    def __init__(self, kind: str = "file or folder") -> None:
        self.kind = kind
        self.name = {"file": "file", "folder": "directory"}.get(kind, "path")

    def convert(self, value, param, ctx) -> Path:
        path = Path(value)
        given = f"{param.opts[0] if param.param_type_name == 'option' else param.human_readable_name} {value}"
        if not path.exists():
            raise CommandError(f"{given}: no such {self.kind}")
        if self.kind == "file" and path.is_dir():
            raise CommandError(f"{given}: is a folder, not a file")
        if self.kind == "folder" and not path.is_dir():
            raise CommandError(f"{given}: is a file, not a folder")
        return path


EXISTING_FILE = ExistingPath("file")
EXISTING_FOLDER = ExistingPath("folder")
SEED = click.IntRange(0, 2**64 - 1)  # engine.seeds draws 64-bit seeds


@click.group(cls=GradeCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cnn-autograder")
def main() -> None:
    """Grade CNN assignment submissions safely, fairly and reproducibly."""


@main.command()
@click.argument("submission", type=ExistingPath())
@click.option("--part", "parts", multiple=True, help=PARTS_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "gradescope"]), default="table",
              show_default=True, help="table: terminal report; json/gradescope: results.json.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the results.json here (any format); hidden from student code.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path), help=DATA_HELP)
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Per-call time limit in seconds.")
@click.option("--budget", type=click.FloatRange(min=1),
              help="Wall-clock budget in seconds for the whole grade (default: limits.grade_budget_seconds).")
@click.option("--config", "config_path", type=EXISTING_FILE,
              help="A TOML file laid over autograder/grading.toml.")
@click.option("--thresholds", type=EXISTING_FILE,
              help="A calibrated thresholds file for the timed tests (see `grade calibrate`).")
@click.option("--no-namespaces", is_flag=True,
              help="Do not use Linux namespaces even where allowed (to see the fallback's report).")
@click.option("--seed", type=SEED,
              help="The hidden inputs' seed of a grade to reproduce (printed under its report, never "
                   "in results.json); default: a new secret one.")
@click.option("--test", "tests", multiple=True, metavar="NODE",
              help="Grade only this test (repeatable), named under autograder/suites: "
                   "layers/test_conv.py or layers/test_conv.py::test_conv_float32.")
def run(submission: Path, parts: tuple, fmt: str, output: Path | None, device: str,
        data_dir: Path | None, timeout: float | None, config_path: Path | None,
        thresholds: Path | None = None, no_namespaces: bool = False, budget: float | None = None,
        seed: int | None = None, tests: tuple = ()) -> None:
    """Grade one SUBMISSION (a folder, a .zip, or a notebook: its functions, never run)."""
    from autograder.config import load_config
    from autograder.engine.results import write_json_atomically
    from autograder.report import print_report, seed_line
    from autograder.run import RunOptions, grade_submission, resolve_device

    hide = (str(output.resolve().parent),) if output else ()
    options = RunOptions(device=resolve_device(device), data_dir=str(data_dir) if data_dir else None,
                         call_timeout=timeout, hide=hide,
                         thresholds=str(thresholds) if thresholds else None,
                         allow_namespaces=not no_namespaces, budget=budget, seed=seed, tests=tests)

    def keep_current(partial) -> None:  # a grader stopped mid-way still leaves the parts done
        write_json_atomically(partial.to_gradescope(), output)

    result = grade_submission(submission, list(parts) or None, load_config(config_path), options,
                              on_part=keep_current if output else None)
    data = result.to_gradescope()
    if output:
        write_json_atomically(data, output)
    if fmt == "table":
        print_report(result)
    else:
        click.echo(json.dumps(data, indent=2))
        click.echo(seed_line(result.seed), err=True)
    if result.grader_errors:  # results were written: the exit status stays 0 (see README)
        click.echo("the grader hit errors of its own (see above); scores may be wrong", err=True)


@main.command()
@click.option("--which", type=click.Choice(["reference", "handout"]), default="reference",
              show_default=True, help="reference: full marks expected; handout: the untouched stubs.")
@click.option("--part", "parts", multiple=True, help=PARTS_HELP)
def demo(which: str, parts: tuple) -> None:
    """Grade a bundled example submission and print the report."""
    import tempfile

    from autograder.config import load_config
    from autograder.data import DataError, find_data
    from autograder.examples import build_submission

    config = load_config()
    parts = parts or tuple(config.parts)
    for name in [p for p in parts if p in config.parts and config.parts[p].data]:
        try:
            find_data(config.parts[name], None)
        except DataError as exc:
            parts = tuple(p for p in parts if p != name)
            click.echo(f"Skipping {name}, which needs {config.parts[name].data.what} "
                       f"(`grade run --data-dir DIR` grades it): {exc}")
    if not parts:
        return
    with tempfile.TemporaryDirectory(prefix="grade-demo-") as tmp:
        folder = build_submission(which, Path(tmp) / f"{which}-submission")
        click.echo(f"Grading the {which} submission ({', '.join(sorted(p.name for p in folder.iterdir()))})")
        run.callback(folder, parts, "table", None, "auto", None, None, None)


@main.command()
@click.option("--config", "config_path", type=EXISTING_FILE)
@click.option("--keys", is_flag=True, help="List every configuration key with its type, default and meaning.")
def validate(config_path: Path | None, keys: bool) -> None:
    """Check the configuration and the suites; print every test's points and the totals."""
    from autograder.validate import validate_suites

    if keys:
        from autograder.config import describe_keys

        for section, key, kind, default, description in describe_keys():
            click.echo(f"[{section}] {key} ({kind}, default {default!r}): {description}")
        return

    click.echo(validate_suites(config_path))


@main.command("new-part")
@click.argument("name")
def new_part(name: str) -> None:
    """Write a working skeleton of the part NAME: its declaration and suite, stub and reference."""
    from autograder.scaffold import new_part as write_part

    for path in write_part(name):
        click.echo(f"wrote {path}")
    click.echo("Next: edit them, then `grade validate` and `grade run` on the reference.")


@main.group()
def package() -> None:
    """Build what a course platform runs (see docs/deployment.md)."""


SELF_TEST_HELP = "Skip grading the reference through the package (it must get full marks)."


@package.command()
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("autograder.zip"),
              show_default=True)
@click.option("--part", "parts", multiple=True, help="Grade only this part (repeatable); default: all.")
@click.option("--data-dir", "--cifar-data", "data_dir", type=click.Path(path_type=Path),
              help="Folder with the data the parts read: the files they declare go into the zip "
                   "(no network needed).")
@click.option("--download-data", "--with-cifar-data", "download_data", is_flag=True,
              help="setup.sh downloads the parts' data into /autograder/data when Gradescope builds the image.")
@click.option("--with-cuda-torch", is_flag=True, help="setup.sh installs the CUDA torch build (default: CPU).")
@click.option("--torch-version", help="torch version setup.sh pins (default: the one installed here).")
@click.option("--thresholds", type=EXISTING_FILE,
              help="Speed tiers for the grading machine (see `grade calibrate`), put in the zip.")
@click.option("--no-self-test", is_flag=True, help=SELF_TEST_HELP)
def gradescope(output: Path, parts: tuple, data_dir: Path | None, download_data: bool,
               with_cuda_torch: bool, torch_version: str | None, thresholds: Path | None,
               no_self_test: bool) -> None:
    """Build the autograder.zip to upload on Gradescope's "Configure Autograder" page, then grade
    the reference with it as Gradescope would (offline, set-up skipped)."""
    from autograder.package.gradescope import GradescopeOptions, build_gradescope_zip, prove_gradescope_zip

    if download_data and not no_self_test:
        raise CommandError("--download-data: the self-test cannot download the data as setup.sh "
                           "will; bundle it with --data-dir DIR instead, or add --no-self-test")
    options = GradescopeOptions(parts=parts, cuda_torch=with_cuda_torch, data_dir=data_dir,
                                download_data=download_data, torch_version=torch_version,
                                thresholds=thresholds)
    names = build_gradescope_zip(output, options)
    click.echo(f"wrote {output} ({len(names)} files, {output.stat().st_size / 1024:.0f} KiB)")
    if no_self_test:
        return
    click.echo("self-test: grading the reference with the zip, as Gradescope would ...")
    _prove(prove_gradescope_zip, output)


def _prove(prove, *args) -> None:
    """Run a package's self-test; a reference short of full marks fails the command (exit 1)."""
    from autograder.package.selftest import SelfTestFailed

    try:
        proof = prove(*args)
    except SelfTestFailed as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(proof.summary())


@package.command()
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=Path("dist/otter"),
              show_default=True, help="Folder for the master notebook cnn_questions.ipynb.")
@click.option("--config", "config_path", type=EXISTING_FILE,
              help="A TOML file laid over autograder/grading.toml (the questions' points follow it).")
@click.option("--no-self-test", is_flag=True, help=SELF_TEST_HELP)
def otter(output: Path, config_path: Path | None, no_self_test: bool) -> None:
    """Write an otter-assign master notebook of the notebook questions, then grade the reference's
    answers through otter assign and otter run (offline)."""
    from autograder.config import load_config
    from autograder.package.otter import prove_master_notebook, write_master_notebook

    config = load_config(config_path)
    path = write_master_notebook(config, output)
    click.echo(f"wrote {path}; next: otter assign {path} {output / 'dist'}")
    if not no_self_test:
        click.echo("self-test: otter assign, then otter run on the reference's answers ...")
        _prove(prove_master_notebook, path, config)


@package.command()
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=Path("dist/nbgrader"),
              show_default=True, help="The nbgrader course folder (the notebook goes in its source/).")
@click.option("--config", "config_path", type=EXISTING_FILE,
              help="A TOML file laid over autograder/grading.toml (the questions' points follow it).")
@click.option("--no-self-test", is_flag=True, help=SELF_TEST_HELP)
def nbgrader(output: Path, config_path: Path | None, no_self_test: bool) -> None:
    """Write an nbgrader source notebook of the notebook questions, then grade the reference's
    answers through generate_assignment and autograde in a scratch course (offline)."""
    from autograder.config import load_config
    from autograder.package.nbgrader import ASSIGNMENT_NAME, prove_source_notebook, write_source_notebook

    config = load_config(config_path)
    path = write_source_notebook(config, output)
    click.echo(f"wrote {path}; next, in {output}: nbgrader generate_assignment {ASSIGNMENT_NAME}")
    if not no_self_test:
        click.echo("self-test: nbgrader generate_assignment, then autograde of the reference's answers ...")
        _prove(prove_source_notebook, path, config)


@package.command()
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("handout.zip"),
              show_default=True)
def student(output: Path) -> None:
    """Build the student handout: stubs, notebook, visible tests and the `check` command."""
    from autograder.config import load_config
    from autograder.package.student import build_student_handout

    names = build_student_handout(output, load_config())
    click.echo(f"wrote {output} ({len(names)} files); students run: python -m autograder.check")


@main.command()
@click.argument("submissions_dir", type=EXISTING_FOLDER)
@click.option("--jobs", type=click.IntRange(min=1),
              help="Workers of the local Dask cluster: submissions graded at once, each in a grader "
                   "process of its own (default: as many as this machine's cores and memory allow).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Grade on an existing Dask cluster (tcp://host:8786) instead of a local one; its "
                   "workers need this grader and the class folder at the same paths.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("gradebook.csv"),
              show_default=True, help="The CSV gradebook; summary.md and score_histogram.png go next to it.")
@click.option("--feedback-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write one Markdown feedback file per submission here.")
@click.option("--part", "parts", multiple=True, help=PARTS_HELP)
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Per-call time limit in seconds.")
@click.option("--submission-timeout", type=click.FloatRange(min=1),
              help="Wall-clock limit for one whole submission (default: the grade's budget + 120 s).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Results kept between runs (default: .grade-cache next to the gradebook).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path), help=DATA_HELP)
@click.option("--config", "config_path", type=EXISTING_FILE,
              help="A TOML file laid over autograder/grading.toml.")
@click.option("--thresholds", type=EXISTING_FILE,
              help="A calibrated thresholds file for the timed tests.")
@click.option("--seed", type=SEED,
              help="The hidden inputs' seed for every submission (default: the one the cache folder "
                   "keeps, drawn in secret by its first batch; summary.md names it).")
def batch(submissions_dir: Path, jobs: int | None, scheduler: str | None, output: Path,
          feedback_dir: Path | None, parts: tuple,
          timeout: float | None, submission_timeout: float | None, cache_dir: Path | None, device: str,
          data_dir: Path | None, config_path: Path | None, thresholds: Path | None,
          seed: int | None = None) -> None:
    """Grade a class: SUBMISSIONS_DIR holds one folder or .zip per student, or is an unzipped
    Gradescope export. Unchanged submissions graded before are not graded again."""
    from rich.console import Console
    from rich.markdown import Markdown

    from autograder.batch.command import BatchOutputs, run_batch
    from autograder.batch.grade import BatchSettings
    from autograder.run import resolve_device

    settings = BatchSettings(parts=parts, config_path=config_path, thresholds=thresholds,
                             call_timeout=timeout, submission_timeout=submission_timeout,
                             device=resolve_device(device), data_dir=data_dir, jobs=jobs,
                             scheduler=scheduler, seed=seed)
    outputs = BatchOutputs(gradebook=output, feedback_dir=feedback_dir, cache_dir=cache_dir)
    report = run_batch(submissions_dir, settings, outputs)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    Console().print(Markdown(report.summary))
    click.echo(f"wrote {output}, {outputs.summary}" + (f" and feedback in {feedback_dir}" if feedback_dir else ""))


@main.command()
@click.argument("class_results", type=click.Path(exists=True, path_type=Path))
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML page (default: class_report.html beside the class results).")
def report(class_results: Path, output: Path | None) -> None:
    """Write one static HTML page about a graded class: CLASS_RESULTS is the folder of a
    `grade batch` gradebook (its class_results.json). Similar pairs are evidence, never scores."""
    from autograder.batch.class_report import plotting_available, write_class_report
    from autograder.batch.class_results import ClassResultsError, read_class_results

    try:
        results = read_class_results(class_results)
    except ClassResultsError as exc:
        raise CommandError(str(exc)) from None
    output = output or (class_results if class_results.is_dir() else class_results.parent) / "class_report.html"
    write_class_report(output, results)
    if not plotting_available():
        click.echo('No plots: matplotlib is not installed (pip install "cnn-autograder[train]").')
    click.echo(f"wrote {output}")


@main.command()
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="What the grading machine offers; CUDA items are skipped on cpu.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("thresholds.toml"), show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Reference-against-itself comparisons per timed item.")
def calibrate(device: str, output: Path, repeats: int) -> None:
    """Time the reference on this machine and write a thresholds file for `grade run --thresholds`."""
    from autograder.calibrate import calibrate as run_calibration

    run_calibration(device=device, output=output, repeats=repeats, log=click.echo)


@main.command()
@click.argument("which", type=click.Choice(["conv", "engine"]), default="conv")
def bench(which: str) -> None:
    """Print benchmark ratios measured in one run (conv: reference fast conv vs torch and naive;
    engine: per-call overhead, and time and peak memory to grade the reference)."""
    if which == "conv":
        from benchmarks.bench_conv import main as bench_main

        bench_main()
    else:
        from benchmarks.bench_engine import main as bench_main

        bench_main([])


@main.command("train-reference")
@click.option("--data-dir", type=click.Path(path_type=Path),
              help="Folder with cifar-10-batches-py (else $GRADE_CIFAR10_DIR, else ./data).")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Where the weights, curves and confusion matrix go.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), help="torch.set_num_threads (default: PyTorch's).")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the state_dict (default: OUT_DIR/cifar10.pt); "
                   "reference/cifar10.pt is what `grade run` compares against.")
def train_reference(data_dir: Path | None, out_dir: Path, epochs: int, device: str, seed: int,
                    threads: int | None, weights: Path | None) -> None:
    """Train the reference CIFAR-10 model; save its weights, curves and confusion matrix, and
    print the test accuracy the grader measures on those weights."""
    from autograder.run import resolve_device
    from reference.train_cifar10 import main as train_main

    train_main(data_dir=data_dir, out_dir=out_dir, epochs=epochs, device=resolve_device(device),
               seed=seed, threads=threads, weights=weights)


# The same command ships in the student handout (python -m autograder.check), so it lives there.
main.add_command(check_command, name="check")
main.add_command(audit_command, name="audit")

if __name__ == "__main__":
    main()
