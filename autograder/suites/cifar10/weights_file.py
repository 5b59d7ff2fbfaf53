"""How many numbers a submitted ``cifar10.pt`` holds, counted in the grader from the file itself.

The parameter budget must not rest on the sandbox's word (a submission can patch whatever runs
beside it there), and torch never loads in the grader. So this reads the file as
``torch.save`` writes it (a zip holding ``<name>/data.pkl``, whose tensors are records of a
storage and a size) with a pickle reader that builds nothing but those records: every class the
pickle names other than a tensor, a storage type or an ordered dict is refused, so no code of
the file runs. The file is hostile: its size, its zip directory and its pickle are bounded
before they are read.

Every number counts, whatever its dtype: parameters, batch norm's running statistics, and any
tensor the model could use as weights (int8 weights dequantized in ``forward`` included).
"""
from __future__ import annotations

import collections
import io
import math
import pickle
import zipfile
from pathlib import Path

from autograder.engine.submission import SubmissionError, check_zip_directory

# A state_dict's pickle holds about 100 bytes per tensor: this allows some 80,000 tensors.
MAX_PICKLE_BYTES = 8 * 2**20


class WeightsFileError(ValueError):
    """The file is not a state_dict as ``torch.save`` writes it; the text is for the student."""


class _Storage:
    """A storage the pickle refers to (its bytes are not read: a tensor's size says its count)."""


class _Tensor:
    """What torch would rebuild as a tensor: only its number of elements."""

    def __init__(self, numel: int) -> None:
        self.numel = numel


def _rebuild_tensor(storage, offset, size, stride, *rest) -> _Tensor:
    if not (isinstance(storage, _Storage) and isinstance(size, tuple)
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in size)):
        raise WeightsFileError("a tensor record is malformed")
    return _Tensor(math.prod(size))


def _rebuild_parameter(data, *rest) -> _Tensor:
    if not isinstance(data, _Tensor):
        raise WeightsFileError("a parameter record is malformed")
    return data


_ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter}


class _StateDictReader(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "torch" and name.endswith("Storage"):
            return name  # a storage type: only ever an item of a storage reference
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise WeightsFileError(f"it names {module[:60]}.{name[:60]}, which a state_dict of "
                               "tensors does not")

    def persistent_load(self, pid) -> _Storage:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise WeightsFileError("a storage reference is malformed")
        return _Storage()


def count_numbers(path: Path, max_bytes: int) -> int:
    """The number of elements of every tensor in the state_dict saved at ``path``; raises
    ``WeightsFileError`` when it is not one (too large, not a zip, a pickle of anything else)."""
    size = path.stat().st_size
    if size > max_bytes:
        raise WeightsFileError(f"it is {size / 2**20:.0f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
    try:
        check_zip_directory(path)
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(names) != 1:
                raise WeightsFileError("it is not a file written by torch.save (no data.pkl in it)")
            with archive.open(names[0]) as pickled:
                data = pickled.read(MAX_PICKLE_BYTES + 1)
    except WeightsFileError:
        raise
    except (SubmissionError, zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError,
            NotImplementedError, ValueError) as exc:  # a crafted zip fails in any of these ways
        raise WeightsFileError(f"it is not a zip as torch.save writes it ({str(exc)[:200]})") from None
    if len(data) > MAX_PICKLE_BYTES:
        raise WeightsFileError(f"its pickle is over {MAX_PICKLE_BYTES // 2**20} MiB")
    try:
        state = _StateDictReader(io.BytesIO(data)).load()
    except WeightsFileError:
        raise
    except Exception as exc:  # any malformed pickle: a truncated stream, a bad opcode, ...
        raise WeightsFileError(f"its pickle cannot be read ({type(exc).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, _Tensor)
                                              for k, v in state.items()):
        raise WeightsFileError("it holds something other than a state_dict of tensors")
    return sum(tensor.numel for tensor in state.values())

