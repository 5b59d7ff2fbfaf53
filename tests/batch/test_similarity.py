"""Similarity evidence: a planted copy (variables renamed, functions reordered) is found among
three independent solutions, which are not paired with each other; identical uncommon wrong
answers pair two submissions whose code differs."""
import re

from autograder.batch.similarity import (fingerprints, same_wrong_answers, similar_code, stub_fingerprints,
                                         submission_fingerprints)
from autograder.config import load_config
from autograder.engine import results
from autograder.engine.plugin import FAIL
from autograder.run import HANDOUT_DIR

# Three students' own ways of writing the same functions.
LOOPS = '''
def _pair(value):
    if isinstance(value, (tuple, list)):
        return tuple(value), True
    return (value, value), False


def conv_output_size(input_size, kernel_size, stride=1, padding=0):
    sizes, any_pair = _pair(input_size)
    kernels, k_pair = _pair(kernel_size)
    strides, s_pair = _pair(stride)
    pads, p_pair = _pair(padding)
    out = []
    for axis in range(2):
        room = sizes[axis] + 2 * pads[axis] - kernels[axis]
        if room < 0 or room % strides[axis] != 0:
            raise ValueError("the filter does not fit along axis %d" % axis)
        out.append(room // strides[axis] + 1)
    if any_pair or k_pair or s_pair or p_pair:
        return tuple(out)
    return out[0]


def pool_output_size(input_size, kernel_size, stride):
    return conv_output_size(input_size, kernel_size, stride, 0)


def same_padding(kernel_size):
    if not isinstance(kernel_size, int) or kernel_size <= 0 or kernel_size % 2 == 0:
        raise ValueError("kernel_size must be a positive odd integer")
    return (kernel_size - 1) // 2


def conv_param_count(in_channels, out_channels, kernel_size, bias=True):
    (kh, kw), _ = _pair(kernel_size)
    weights = kh * kw * in_channels * out_channels
    if bias:
        weights += out_channels
    return weights
'''
RECURSIVE = '''
import math


def conv_output_size(input_size, kernel_size, stride=1, padding=0):
    args = [input_size, kernel_size, stride, padding]
    if any(isinstance(a, (tuple, list)) for a in args):
        per_axis = [[a[i] if isinstance(a, (tuple, list)) else a for a in args] for i in (0, 1)]
        return tuple(conv_output_size(*axis_args) for axis_args in per_axis)
    numerator = input_size - kernel_size + 2 * padding
    result = numerator / stride + 1
    if numerator < 0 or not float(result).is_integer():
        raise ValueError(f"output size {result} is not a whole number")
    return int(result)


def pool_output_size(input_size, kernel_size, stride):
    try:
        return conv_output_size(input_size, kernel_size, stride, padding=0)
    except ValueError as error:
        raise ValueError(f"pooling: {error}") from None


def same_padding(kernel_size):
    half, odd = divmod(kernel_size, 2)
    if kernel_size < 1 or not odd:
        raise ValueError(f"no same padding for a kernel of {kernel_size}")
    return half


def conv_param_count(in_channels, out_channels, kernel_size, bias=True):
    area = math.prod(kernel_size) if isinstance(kernel_size, tuple) else kernel_size ** 2
    return out_channels * (in_channels * area + int(bias))
'''
NUMPY = '''
import numpy as np


def conv_output_size(input_size, kernel_size, stride=1, padding=0):
    paired = any(np.ndim(v) for v in (input_size, kernel_size, stride, padding))
    w, f, s, p = (np.broadcast_to(np.asarray(v), (2,)) for v in (input_size, kernel_size, stride, padding))
    span = w + 2 * p - f
    if np.any(span < 0) or np.any(span % s):
        raise ValueError("invalid geometry")
    sizes = span // s + 1
    return tuple(int(x) for x in sizes) if paired else int(sizes[0])


def pool_output_size(input_size, kernel_size, stride):
    return conv_output_size(input_size, kernel_size, stride)


def same_padding(kernel_size):
    assert_odd = kernel_size % 2 == 1 and kernel_size > 0
    if not assert_odd:
        raise ValueError("even kernel")
    return kernel_size // 2


def conv_param_count(in_channels, out_channels, kernel_size, bias=True):
    shape = (out_channels, in_channels, *np.broadcast_to(kernel_size, (2,)))
    return int(np.prod(shape)) + (out_channels if bias else 0)
'''


def _renamed_and_reordered(source: str) -> str:
    renames = {"sizes": "dims", "kernels": "ks", "strides": "st", "pads": "padz", "room": "gap",
               "out": "result_list", "weights": "total", "value": "v", "any_pair": "flag_a", "axis": "d"}
    for old, new in renames.items():
        source = re.sub(rf"\b{old}\b", new, source)
    functions = source.strip().split("\n\n\n")
    return "\n\n\n".join(reversed(functions)) + "\n"


def _with_handout(tmp_path, name: str, code: str):
    """The handout's shapes.py with the student's functions after it (they replace the stubs)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "shapes.py").write_text((HANDOUT_DIR / "shapes.py").read_text() + "\n\n" + code)
    return folder


def test_a_planted_copy_is_found_and_independent_solutions_are_not_paired(tmp_path):
    config, stubs = load_config(), stub_fingerprints(HANDOUT_DIR)
    sources = {name: submission_fingerprints(_with_handout(tmp_path, name, code), stubs, config)
               for name, code in (("ada", LOOPS), ("bo", RECURSIVE), ("cy", NUMPY),
                                  ("dee", _renamed_and_reordered(LOOPS)))}
    pairs = similar_code(sources, stubs)
    assert [(p.first, p.second) for p in pairs] == [("ada", "dee")]
    assert pairs[0].overlap > 0.8
    assert "shapes.py" in pairs[0].first_lines and "shapes.py" in pairs[0].second_lines
    handout_lines = len((HANDOUT_DIR / "shapes.py").read_text().split("\n"))
    assert min(pairs[0].first_lines["shapes.py"]) > handout_lines  # the stubs are not evidence


def test_the_handout_alone_has_nothing_left_once_stubs_are_removed(tmp_path):
    stubs = stub_fingerprints(HANDOUT_DIR)
    assert stubs and not set(fingerprints((HANDOUT_DIR / "shapes.py").read_text())) - stubs


def _result(lines: list) -> results.GradeResult:
    test = results.TestResult("shapes: same_padding", "shapes", "1.1", 0.0, 2.0,
                              "\n".join(f"{FAIL} {line}" for line in lines), "visible")
    return results.GradeResult(tests=[test], parts=[], execution_time=1.0, isolation="test")


def test_identical_uncommon_wrong_answers_pair_two_submissions():
    found = same_wrong_answers({
        "ann": _result(["same_padding(7): returned 4, which is wrong", "same_padding(11): returned 6, which is wrong"]),
        "ben": _result(["same_padding(7): returned 4, which is wrong", "same_padding(11): returned 6, which is wrong"]),
        "cat": _result(["same_padding(7): returned 2, which is wrong", "same_padding(11): returned 5, which is wrong"]),
        "dan": _result(["same_padding(7): raised NotImplementedError"] * 2),
        "eve": _result(["same_padding(7): raised NotImplementedError"] * 2),
    })
    assert [(p.first, p.second) for p in found] == [("ann", "ben")]
    assert len(found[0].shared) == 2
