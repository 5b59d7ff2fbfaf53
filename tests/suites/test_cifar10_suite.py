"""The cifar10 suite on a small synthetic data set: full marks for a trained reference model, none
for the stubs, and safe, clear refusals of bad weight files."""
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from autograder.config import load_config
from autograder.engine.plugin import SubmissionAccess
from autograder.engine.proxy import Session, StudentCodeError
from autograder.engine.sandbox import Limits, Sandbox, detect_isolation
from autograder.examples import HANDOUT_DIR, REFERENCE_DIR
from autograder.run import RunOptions, grade_submission
from reference import cifar10
from reference.cifar10_data import load_cifar10, write_fake_cifar10
from reference.cifar10_loader import make_loader

HELPERS = Path(__file__).parents[2] / "autograder" / "suites" / "cifar10" / "sandbox_helpers.py"


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory):
    return write_fake_cifar10(tmp_path_factory.mktemp("data"), n_train_per_batch=64, n_test=100, seed=3)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "small.toml"
    # Tiers a two-epoch model reaches on the synthetic set with a wide margin (it gets ~75%). The
    # training check's time limit is not what these tests check: a busy 2-core machine took
    # 143 s for its three epochs.
    path.write_text("[parts.cifar10.settings]\neval_images = 100\nbatch_size = 50\n"
                    "accuracy_tiers = [0.2, 0.4, 0.55]\ntrain_check_seconds = 600\n")
    return load_config(path)


@pytest.fixture(scope="module")
def trained_weights(fake_data, tmp_path_factory):
    """The reference model trained for two epochs on the synthetic set (learnable in seconds)."""
    images, labels = load_cifar10(fake_data, "train")
    torch.manual_seed(0)
    model = cifar10.build_model()
    cifar10.train(model, make_loader(images, labels, 64, True, 0), 2, "cpu")
    path = tmp_path_factory.mktemp("weights") / "cifar10.pt"
    torch.save(model.state_dict(), path)
    return path


def submission(tmp_path, code_from, weights=None):
    folder = tmp_path / "submission"
    folder.mkdir(parents=True)
    shutil.copyfile(code_from / "cifar10.py", folder / "cifar10.py")
    if weights is not None:
        shutil.copyfile(weights, folder / "cifar10.pt")
    return folder


def grade(folder, fake_data, config):
    return grade_submission(folder, ["cifar10"], config, RunOptions(data_dir=str(fake_data)))


def outputs(result) -> str:
    return "\n".join(t.output for t in result.tests)


def test_trained_reference_gets_full_marks(tmp_path, fake_data, config, trained_weights):
    result = grade(submission(tmp_path, REFERENCE_DIR, trained_weights), fake_data, config)
    assert result.grader_errors == []
    timed = [t for t in result.tests if "speed" in t.name]
    assert len(timed) == 2 and all(t.score >= t.max_score / 2 for t in timed), outputs(result)
    # The reference against itself: its speed ratio is about 1 (the full-credit bound is 2x);
    # the flakiness check (benchmarks/flakiness.py) is where speed verdicts are proven stable.
    assert all(t.status == "passed" for t in result.tests if t not in timed), outputs(result)
    names = {entry["name"] for entry in result.leaderboard}
    assert names == {"Accuracy", "Parameters", "Inference ms per 64 images"}


def test_handout_stub_scores_zero(tmp_path, fake_data, config, trained_weights):
    result = grade(submission(tmp_path, HANDOUT_DIR, trained_weights), fake_data, config)
    assert result.grader_errors == []
    assert result.score == 0
    assert "NotImplementedError" in outputs(result)


class _Payload:
    """Unpickling this would kill the process with exit code 77, which the report would show."""

    def __reduce__(self):
        return (os._exit, (77,))


@pytest.fixture
def load_weights_in_sandbox(tmp_path):
    """load_weights_in_sandbox(weights) -> the helper's load_weights, run in a real sandbox over
    the reference cifar10.py and ``weights`` (faster than grading the whole part each time)."""
    sandboxes = []

    def load(weights):
        folder = submission(tmp_path / str(len(sandboxes)), REFERENCE_DIR, weights)
        sandbox = Sandbox(folder, Limits(call_timeout=120, memory_mb=6144), detect_isolation())
        sandboxes.append(sandbox)
        access = SubmissionAccess(Session(sandbox, 300), (), "")
        runner = access.helper("cifar10_grader_helpers", HELPERS.read_text(),
                               opaque={"build_model": "all"}, drives="cifar10")
        return runner.load_weights(runner.build_model("cpu"), "cifar10.pt", 100)

    yield load
    for sandbox in sandboxes:
        sandbox.close()


def test_pickle_payload_in_weights_never_runs(tmp_path, load_weights_in_sandbox):
    weights = tmp_path / "evil.pt"
    torch.save({"conv.weight": _Payload()}, weights, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    with pytest.raises(StudentCodeError) as info:
        load_weights_in_sandbox(weights)
    assert "code 77" not in str(info.value) and "weights_only" in str(info.value)


def test_huge_and_truncated_and_mismatched_weights_are_refused_clearly(tmp_path, trained_weights,
                                                                       load_weights_in_sandbox):
    huge = tmp_path / "huge.pt"
    with open(huge, "wb") as f:  # sparse: 150 MiB on paper, nothing on disk
        f.truncate(150 * 2**20)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(trained_weights.read_bytes()[:5000])
    mismatched = tmp_path / "mismatched.pt"
    torch.save(torch.nn.Linear(3, 10).state_dict(), mismatched)
    expected = {huge: "the limit is 100 MiB", truncated: "could not be loaded",
                mismatched: "does not match build_model()"}
    for weights, message in expected.items():
        with pytest.raises(StudentCodeError, match=message):
            load_weights_in_sandbox(weights)
    assert load_weights_in_sandbox(trained_weights) > 0  # the sizes of good weights, in bytes


def test_two_gigabyte_weights_are_left_out_and_the_rest_graded(tmp_path, fake_data, config):
    """The 2 GiB file is left out, the rest is graded and the missing weights are named."""
    folder = submission(tmp_path, REFERENCE_DIR)
    with open(folder / "cifar10.pt", "wb") as f:  # sparse: 2 GiB on paper, nothing on disk
        f.truncate(2 * 2**30)
    result = grade(folder, fake_data, config)
    assert any("cifar10.pt" in note and "at most 200 MiB" in note for note in result.notes)
    assert "missing from the submission: cifar10.pt" in result.parts[0].message
    assert "cifar10.pt is not in the submission" in result.tests[0].output
    visible = next(t for t in result.tests if t.visibility == "visible")
    assert visible.status == "passed"
    assert result.grader_errors == []
