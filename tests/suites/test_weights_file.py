"""The grader's own count of the numbers in a cifar10.pt: every tensor's elements, any dtype, and
a refusal (never code run, never a crash) for anything that is not a state_dict of tensors."""
import collections
import pickle
import struct
import zipfile

import pytest
import torch

from autograder.examples import REFERENCE_DIR
from autograder.suites.cifar10.weights_file import WeightsFileError, count_numbers
from reference import cifar10

LIMIT = 100 * 2**20


class _Payload:
    def __reduce__(self):  # unpickled, it would end this test run with exit code 77
        import os
        return (os._exit, (77,))


def test_counts_every_number_of_every_tensor(tmp_path):
    model = cifar10.build_model()
    state = model.state_dict()
    assert count_numbers(REFERENCE_DIR / "cifar10.pt", LIMIT) == sum(t.numel() for t in state.values())
    mixed = tmp_path / "mixed.pt"  # int8 weights, a view of a larger storage, bfloat16 and a
    torch.save(collections.OrderedDict(  # Parameter all count, each by its own size
        q=torch.zeros(3, 4, dtype=torch.int8), view=torch.zeros(100)[10:15],
        half=torch.zeros(2, dtype=torch.bfloat16), p=torch.nn.Parameter(torch.zeros(7))), mixed)
    assert count_numbers(mixed, LIMIT) == 12 + 5 + 2 + 7


@pytest.mark.parametrize("content, message", [
    (lambda: [torch.zeros(3)], "something other than a state_dict"),
    (lambda: {"w": 3}, "something other than a state_dict"),  # a number where a tensor belongs
    (lambda: {"m": torch.nn.Linear(2, 2)}, "names torch.nn.modules.linear.Linear"),
    (lambda: {"x": _Payload()}, "names posix._exit"),
])
def test_anything_but_a_state_dict_of_tensors_is_refused_and_never_run(tmp_path, content, message):
    path = tmp_path / "w.pt"
    torch.save(content(), path, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    with pytest.raises(WeightsFileError, match=message):
        count_numbers(path, LIMIT)


def test_hostile_files_are_refused_within_bounds(tmp_path):
    raw_pickle = tmp_path / "raw.pt"
    raw_pickle.write_bytes(b"cposix\nsystem\n(S'echo PAYLOAD'\ntR.")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((REFERENCE_DIR / "cifar10.pt").read_bytes()[:5000])
    huge = tmp_path / "huge.pt"
    with open(huge, "wb") as f:  # sparse: 150 MiB on paper
        f.truncate(150 * 2**20)
    many = tmp_path / "many.pt"  # an end record declaring 20,000 entries: nothing more is read
    many.write_bytes(b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 20_000, 20_000, 0, 0, 0))
    bomb = tmp_path / "bomb.pt"  # a pickle that inflates past the limit is not read whole
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a/data.pkl", b"\0" * (9 * 2**20))
    expected = {raw_pickle: "not a zip", truncated: "not a zip", huge: "the limit is 100 MiB",
                many: "20000 entries", bomb: "over 8 MiB"}
    for path, message in expected.items():
        with pytest.raises(WeightsFileError, match=message):
            count_numbers(path, LIMIT)
