"""Hostile output (issue 13, class 6): file names and messages carrying rich markup or terminal
escape sequences, and messages and prints of megabytes. Each gets its exact credit, and in every
output format (terminal, results.json, Markdown feedback, CSV) the student's text arrives
bounded, shown as itself (markup not applied) and without a control character."""
import json
import zipfile

import pytest

from tests.outputs import check_clean, terminal

from . import Case, Fails
from .harness import grade_and_check, params
from .hostile import RELU_LOST, S, layers, shapes, wrap_relu_forward, wrap_same_padding

MARKUP = "[bold red]x[/]"  # printed as markup, "[/]" closes a tag never opened: rich raises
LINK = "[link=mailto:x@evil.example]click me[/link]"
TITLE, CLEAR = "\x1b]0;pwned\x07", "\x1b[2J"  # retitle the terminal; clear the screen
SAME_PADDING_RAISES = dict(test_same_padding=Fails(3), test_pool_and_padding_textbook=Fails(2))


def _in_hostile_folder(folder, ctx):
    """A zip holding the honest shapes.py in a folder whose path carries markup (the loader
    notes which folder it graded), and a member whose name carries escapes (the loader refuses
    it with a note naming it)."""
    target = ctx.root / "upload.zip"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(f"{MARKUP}/{LINK}/shapes.py", (folder / S).read_bytes())
        archive.writestr(f"{TITLE}{CLEAR}{MARKUP}.py", b"x = 1\n")
    return target


def _shown_as_text(*texts):
    def check(outcome):
        plain = terminal(outcome.result, width=200)
        for text in texts:
            assert text in plain, f"{text!r} not shown as itself:\n{plain[-3000:]}"
    return check


def _bounded(max_json_bytes: int):
    def check(outcome):
        size = len(json.dumps(outcome.gradescope, indent=2).encode())
        assert size < max_json_bytes, f"results.json of {size} bytes"
        assert len(terminal(outcome.result).splitlines()) < 150
    return check


HOSTILE_OUTPUT = [
    Case("names_with_markup_and_escapes", ("shapes",), "the honest shapes.py sits in a folder "
         "whose name holds rich markup and a link, beside a file named with terminal escapes: "
         "graded in full; the notes naming them show the markup as text and none of the escapes",
         package=_in_hostile_folder, check=_shown_as_text(MARKUP, LINK)),
    shapes("messages_with_markup_and_escapes", "same_padding prints escape sequences and "
           "raises a ValueError whose message holds markup and escapes",
           wrap_same_padding(f"""
               print({TITLE + CLEAR!r} + "\\x9b31m" + {MARKUP!r})
               raise ValueError({MARKUP + TITLE!r} + "\\x1b[31m" + {LINK!r} + "\\r\\x00\\u202e")
           """), fails=SAME_PADDING_RAISES, check=_shown_as_text(f"ValueError: {MARKUP}{LINK}")),
    layers("ten_megabyte_messages", "every call of relu_forward raises a ValueError of 10 MB, "
           "different on each call: results.json stays under 1 MiB, the report short",
           wrap_relu_forward('raise ValueError(repr(x.shape) + "\\x1b[31mB" * 1_700_000)'),
           fails=RELU_LOST, max_seconds=120, check=_bounded(2**20)),
    shapes("megabytes_printed", "same_padding prints 2 MB with escape sequences on every call, "
           "then answers honestly: full credit, the output kept is bounded and clean",
           wrap_same_padding(f'print(({TITLE!r} + "y" * 1000 + "\\n") * 2000)'),
           check=_bounded(2**20)),
]


def test_corpus_is_distinct():
    assert len({c.name for c in HOSTILE_OUTPUT}) == len(HOSTILE_OUTPUT) >= 4


@pytest.mark.parametrize("case", params(HOSTILE_OUTPUT))
def test_hostile_output(case, tmp_path, validator):
    outcome = grade_and_check(case, tmp_path, validator)  # runs case.check too
    check_clean(outcome.result)
    assert "\x1b" not in outcome.student_output and "\x07" not in outcome.student_output
