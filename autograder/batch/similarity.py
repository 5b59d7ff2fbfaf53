"""Similarity evidence for an instructor to read, never a verdict: scores are never touched.

Two kinds of pairs:

* code: winnowing (Schleimer, Wilkerson and Aiken's, as in MOSS) over Python tokens with every
  identifier made one token and every literal one per kind, so renamed variables and reordered
  functions still match. Fingerprints of the handout's stubs, and ones shared by more than
  ``common_limit`` submissions (idioms, or a solution the whole class found), are left out;
* wrong answers: the same failing checks with the same wrong values (the ``✗`` lines of the
  results), which text similarity misses when the code was rewritten. Failures of a file that
  could not be used (not graded) and of untouched stubs are left out.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import keyword
import tempfile
import tokenize
from collections import Counter
from pathlib import Path

from autograder.config import GradingConfig
from autograder.engine.notebook_submission import stub_functions
from autograder.engine.plugin import FAIL
from autograder.engine.submission import SubmissionError, load_submission
from autograder.run import HANDOUT_DIR

KGRAM = 12  # tokens: shorter runs are too often the same by chance (a size formula)
WINDOW = 6  # winnowing window: any match of KGRAM + WINDOW - 1 tokens is certain to be found
MIN_SHARED_FINGERPRINTS = 8
MIN_CODE_OVERLAP = 0.5  # of the smaller submission's own fingerprints
MIN_SHARED_WRONG = 2  # identical wrong-answer lines
COMMON_FRACTION = 0.1  # as MOSS's -m: a passage in more submissions than this is not evidence
STUB_MARK = "NotImplementedError"


@dataclasses.dataclass
class CodePair:
    first: str
    second: str
    overlap: float  # shared fingerprints / the smaller one's fingerprints
    shared: int
    first_lines: dict  # file -> sorted line numbers of the shared passages
    second_lines: dict


@dataclasses.dataclass
class AnswerPair:
    first: str
    second: str
    shared: list  # (test name, the identical wrong-answer line)


def normalized_tokens(source: str) -> list:
    """(token, line) pairs: identifiers as ``V``, numbers ``0``, strings ``S``; comments, blank
    lines and indentation left out. Code that does not tokenize gives the tokens before the error."""
    tokens = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.NAME:
                tokens.append((tok.string if keyword.iskeyword(tok.string) else "V", tok.start[0]))
            elif tok.type == tokenize.NUMBER:
                tokens.append(("0", tok.start[0]))
            elif tok.type == tokenize.STRING:
                tokens.append(("S", tok.start[0]))
            elif tok.type in (tokenize.OP, tokenize.NEWLINE):
                tokens.append((tok.string if tok.type == tokenize.OP else ";", tok.start[0]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return tokens


def fingerprints(source: str) -> dict:
    """Winnowed k-gram hashes -> the lines they span (first, last)."""
    tokens = normalized_tokens(source)
    grams = []
    for start in range(len(tokens) - KGRAM + 1):
        text = " ".join(t for t, _ in tokens[start:start + KGRAM])
        grams.append((int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big"),
                      (tokens[start][1], tokens[start + KGRAM - 1][1])))
    chosen = {}
    for start in range(max(1, len(grams) - WINDOW + 1)):
        window = grams[start:start + WINDOW]
        if window:  # the rightmost minimum, as the paper does
            best = min(range(len(window)), key=lambda i: (window[i][0], -i))
            chosen.setdefault(window[best][0], window[best][1])
    return chosen


def submission_fingerprints(path: Path, stubs: set, config: GradingConfig) -> dict:
    """fingerprint -> (file, first line, last line) over a submission's .py files, stubs removed."""
    found = {}
    for name, source in sorted(python_sources(path, config).items()):
        for fp, lines in fingerprints(source).items():
            if fp not in stubs:
                found.setdefault(fp, (name, *lines))
    return found


def similar_code(sources: dict, stubs: set) -> list:
    """``sources``: label -> fingerprints (``submission_fingerprints``); pairs, most similar first."""
    counts = Counter(fp for fps in sources.values() for fp in fps)
    limit = max(10, COMMON_FRACTION * len(sources))
    kept = {label: {fp: where for fp, where in fps.items() if counts[fp] <= limit} for label, fps in sources.items()}
    pairs = []
    for (a, fa), (b, fb) in itertools.combinations(sorted(kept.items()), 2):
        shared = fa.keys() & fb.keys()
        smaller = min(len(fa), len(fb))
        if len(shared) >= MIN_SHARED_FINGERPRINTS and len(shared) / smaller >= MIN_CODE_OVERLAP:
            pairs.append(CodePair(a, b, len(shared) / smaller, len(shared),
                                  _lines(fa, shared), _lines(fb, shared)))
    return sorted(pairs, key=lambda p: (-p.overlap, p.first, p.second))


def stub_fingerprints(handout_dir: Path) -> set:
    return {fp for file in Path(handout_dir).glob("*.py") for fp in fingerprints(file.read_text())}


def wrong_answers(result) -> set:
    """(test name, ``✗`` line) of the tests a submission failed on its own code's answers."""
    found = set()
    for test in result.tests:
        if test.status != "failed" or any(c.fatal for c in test.causes):
            continue
        found |= {(test.name, line) for line in test.output.split("\n")
                  if line.startswith(FAIL) and STUB_MARK not in line}
    return found


def same_wrong_answers(results: dict) -> list:
    """``results``: label -> GradeResult; pairs sharing uncommon wrong answers, most shared first."""
    answers = {label: wrong_answers(r) for label, r in results.items()}
    counts = Counter(a for found in answers.values() for a in found)
    limit = max(2, COMMON_FRACTION * len(results))
    rare = {label: {a for a in found if counts[a] <= limit} for label, found in answers.items()}
    pairs = [AnswerPair(a, b, sorted(rare[a] & rare[b]))
             for a, b in itertools.combinations(sorted(rare), 2)
             if len(rare[a] & rare[b]) >= MIN_SHARED_WRONG]
    return sorted(pairs, key=lambda p: (-len(p.shared), p.first, p.second))


def _lines(found: dict, shared: set) -> dict:
    lines: dict = {}
    for fp in shared:
        name, first, last = found[fp]
        lines.setdefault(name, set()).update(range(first, last + 1))
    return {name: sorted(numbers) for name, numbers in sorted(lines.items())}


def python_sources(path: Path, config: GradingConfig) -> dict:
    """file name -> text of a submission's graded .py files (from a folder, a zip or a notebook),
    read as the grader reads them, within its limits; nothing is run. Unreadable: none."""
    files = [f for part in config.parts.values() for f in part.files if f.endswith(".py")]
    with tempfile.TemporaryDirectory(prefix="grade-similarity-") as tmp:
        try:
            root = load_submission(Path(path), Path(tmp) / "submission", files,
                                   config.limits.max_submission_mb * 2**20, config.limits.max_files,
                                   notebook_functions=stub_functions(HANDOUT_DIR, files)).root
        except (SubmissionError, OSError):
            return {}
        return {name: (root / name).read_text(encoding="utf-8", errors="replace")
                for name in files if (root / name).is_file() and not (root / name).is_symlink()}
