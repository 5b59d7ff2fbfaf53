"""Text that comes from student code or its file names, made safe to show anywhere.

Exception messages, tracebacks, captured output, file names and notes are written (or chosen)
by the student, who has read this source. Before such text enters a result record it is
stripped of terminal escape sequences and control characters (a file named ``\\x1b]0;pwned\\x07``
must not retitle or clear the instructor's terminal) and bounded, so that every output format
(terminal, results.json, Markdown feedback, CSV) gets clean text of a known size. Rich markup
is escaped where rich renders (``autograder.report``); Markdown and CSV quote in their writers.
"""
from __future__ import annotations

import re

# One failure's full text: the error line (the child caps it at 4,000 characters), up to 8
# student traceback lines of 300 characters each, and the fix. Enough to locate any bug.
MAX_MESSAGE_CHARS = 3_000
# One test's output in results.json: its case lines (one line each, the shared cause told once
# at the top of the report) and the hint; a test has at most a few dozen cases.
MAX_TEST_OUTPUT_CHARS = 4_000
# All student-facing text of one grade. JSON may write a character as 6 bytes (\uXXXX), so
# 150,000 characters keep results.json under 1 MiB (Gradescope stores and shows it whole).
MAX_RESULT_TEXT_CHARS = 150_000
# What student code printed, per part: the sandbox already keeps at most max_output_kb (64 KiB
# by default) per student process, with a note of what it dropped; this bounds a part whose
# process was restarted many times. Kept in the record (batch cache), not in results.json.
MAX_STUDENT_OUTPUT_CHARS = 256_000
# A note or a part's message (loader notes name the submission's files), and how many notes:
# a zip of 10,000 refused members would otherwise bring 10,000 of them.
MAX_NOTE_CHARS = 1_000
MAX_NOTES = 20

# ESC-introduced sequences: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC strings (ESC ] ... BEL or
# ESC \), and two-character escapes (ESC + one byte); their 8-bit C1 forms too.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]?")
# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides that make
# text read differently from what it is ("Trojan source"). Lone surrogates (from non-UTF-8
# file names) are not valid text in JSON or a terminal.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` without escape sequences or control characters (newline and tab kept; a carriage
    return ends a line), cut to ``limit`` characters with a note of how much was cut."""
    text = text if isinstance(text, str) else str(text)
    if len(text) > 4 * limit:  # the regexes need not see what will be cut anyway
        text = text[:4 * limit]
        cut_before = True
    else:
        cut_before = False
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))
    if len(text) > limit or cut_before:
        return text[:limit] + " [... cut: too long to show]"
    return text


def one_line(text: str, limit: int = 300) -> str:
    """The first line of ``text``, cut to ``limit`` characters (for summaries and CSV cells)."""
    first = clean(text, limit).split("\n", 1)[0]
    return first if len(first) <= limit else first[:limit] + "..."
