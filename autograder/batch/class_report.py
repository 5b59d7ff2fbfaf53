"""``grade report``: one static HTML page about a graded class, for the instructor.

Score histograms per part, the pass rate of every test, the most common failures, the speed
ratios of the timed tests, the CIFAR-10 leaderboard, the slowest and the failed submissions, and
similarity evidence (``similarity``). Plots are matplotlib PNGs embedded as base64, so the page
opens from disk with no server and nothing fetched. Everything that comes from a submission
(names, messages, code) is cleaned of control characters and HTML-escaped.
"""
from __future__ import annotations

import base64
import html
import importlib.util
import io
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from autograder.batch.class_results import ClassResults
from autograder.batch.gradebook import status
from autograder.batch.similarity import (python_sources, same_wrong_answers, similar_code, stub_fingerprints,
                                         submission_fingerprints)
from autograder.config import load_config
from autograder.engine.plugin import FAIL
from autograder.engine.student_text import clean, one_line
from autograder.run import HANDOUT_DIR

# timing.py's verdict line: "<item> on <device>: your code took 1.23x the reference's time".
SPEED_RATIO = re.compile(r"^(?P<item>.+?) on \w+: your code took (?P<ratio>[0-9.]+)x the reference's time", re.M)
TOP = 15  # rows of the failure, slowest and similarity tables
CONTEXT_LINES = 2  # lines shown around a shared passage

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { background: #4C72B0; height: .8em; display: inline-block; }
pre { background: #f8f8f8; padding: .5em; overflow-x: auto; font-size: .85em; margin: 0; }
pre mark { background: #ffe08a; } .pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.note { color: #555; font-size: .9em; }
"""


# matplotlib is the `train` extra, not the base install: without it the page keeps every table
# and says, where a plot would be, how to get the plots.
PLOTS_MISSING = ('<p class=note>(plot left out: matplotlib is not installed; '
                 '<code>pip install "cnn-autograder[train]"</code> and run grade report again)</p>')


def plotting_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _text(value: object, limit: int = 2_000) -> str:
    return html.escape(clean(value, limit))


def write_class_report(path: Path, results: ClassResults) -> None:
    """The page for ``results`` (see ``class_results``), written to ``path``."""
    graded = [o for o in results.outcomes if o.result is not None]
    sections = [_overview(results, graded), _histograms(results, graded), _pass_rates(graded),
                _failures(graded), _speed(graded), _leaderboard(graded), _slowest(graded),
                _not_graded(results.outcomes), _similarity(results, graded)]
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Class report</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(s for s in sections if s) + "\n</body></html>\n")
    Path(path).write_text(page, encoding="utf-8")


def _overview(results: ClassResults, graded: list) -> str:
    totals = [o.result.score for o in graded]
    out_of = sum(results.points.values())
    stats = (f"mean {statistics.mean(totals):.2f}, median {statistics.median(totals):.2f} out of {out_of:g}"
             if totals else "nothing graded")
    return (f"<h1>Class report</h1><p>{_text(results.class_dir)}: {len(results.outcomes)} submissions, "
            f"{len(graded)} graded ({stats}), {len(results.outcomes) - len(graded)} not graded.</p>")


def _histograms(results: ClassResults, graded: list) -> str:
    if not graded:
        return ""
    if not plotting_available():
        return "<h2>Scores</h2>" + PLOTS_MISSING
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = {**{part: [p.score for o in graded for p in o.result.parts if p.name == part]
                  for part in results.points}, "total": [o.result.score for o in graded]}
    maxima = {**results.points, "total": sum(results.points.values())}
    figure, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 2.8), squeeze=False)
    for ax, (name, scores) in zip(axes[0], columns.items()):
        ax.hist(scores, bins=10, range=(0, maxima[name] or 1), color="#4C72B0", edgecolor="white")
        ax.set_title(f"{name} (out of {maxima[name]:g})")
        ax.set_xlabel("score")
        ax.yaxis.get_major_locator().set_params(integer=True)
    axes[0][0].set_ylabel("submissions")
    return "<h2>Scores</h2>" + _figure(figure, "score histograms per part and of the total")


def _figure(figure, alt: str) -> str:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _pass_rates(graded: list) -> str:
    passed, seen, credit = Counter(), Counter(), defaultdict(float)
    for outcome in graded:
        for test in outcome.result.tests:
            seen[test.name] += 1
            passed[test.name] += test.status == "passed"
            credit[test.name] += test.score / test.max_score if test.max_score else 1.0
    if not seen:
        return ""
    rows = []
    for name in sorted(seen, key=lambda n: (passed[n] / seen[n], n)):
        rate = passed[name] / seen[name]
        rows.append(f"<tr><td>{_text(name)}</td><td class=num>{passed[name]} of {seen[name]}</td>"
                    f"<td><span class=bar style=\"width:{rate * 10:.2f}em\"></span> {rate:.0%}</td>"
                    f"<td class=num>{credit[name] / seen[name]:.0%}</td></tr>")
    return ("<h2>Pass rate of every test</h2><table><tr><th>test</th><th>passed</th><th>rate</th>"
            "<th>mean credit</th></tr>" + "".join(rows) + "</table>")


def _failures(graded: list) -> str:
    """The first cause of each failed test, counted once per submission."""
    counts: Counter = Counter()
    for outcome in graded:
        counts.update({(t.name, _first_cause(t)) for t in outcome.result.tests if t.status == "failed"})
    if not counts:
        return ""
    rows = "".join(f"<tr><td class=num>{n}</td><td>{_text(test)}</td><td>{_text(why)}</td></tr>"
                   for (test, why), n in counts.most_common(TOP))
    return ("<h2>Most common failures</h2><table><tr><th>submissions</th><th>test</th><th>first cause</th>"
            "</tr>" + rows + "</table>")


def _first_cause(test) -> str:
    if test.causes:
        return test.causes[0].summary
    return one_line(next((line for line in test.output.split("\n") if line.startswith(FAIL)), test.output))


def _speed(graded: list) -> str:
    ratios = defaultdict(list)
    for outcome in graded:
        for test in outcome.result.tests:
            for match in SPEED_RATIO.finditer(test.output):
                ratios[match["item"]].append(float(match["ratio"]))
    if not ratios:
        return ""
    if not plotting_available():
        return "<h2>Speed ratios of the timed tests</h2>" + PLOTS_MISSING
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(ratios)))
    names = sorted(ratios)
    for row, name in enumerate(names):  # one dot per submission
        ax.scatter(ratios[name], [row] * len(ratios[name]), alpha=0.6, color="#4C72B0")
    ax.set_yticks(range(len(names)), [one_line(n, 60) for n in names])
    ax.set_ylim(-0.5, len(names) - 0.5)
    ax.set_xscale("log")
    ax.set_xlabel("student time / reference time (log scale)")
    return "<h2>Speed ratios of the timed tests</h2>" + _figure(figure, "speed ratios per timed item")


def _leaderboard(graded: list) -> str:
    entries = [(o, {e["name"]: e for e in o.result.leaderboard}) for o in graded if o.result.leaderboard]
    if not entries:
        return ""
    columns = sorted({name for _, board in entries for name in board})
    key = "Accuracy" if "Accuracy" in columns else columns[0]
    ranked = sorted(entries, key=lambda e: _sort_value(e[1].get(key)))
    rows = "".join("<tr><td>" + _text(_names(o)) + "</td>" + "".join(
        f"<td class=num>{_text(board[c]['value']) if c in board else ''}</td>" for c in columns) + "</tr>"
        for o, board in ranked)
    return ("<h2>CIFAR-10 leaderboard</h2><table><tr><th>submission</th>"
            + "".join(f"<th>{_text(c)}</th>" for c in columns) + "</tr>" + rows + "</table>")


def _sort_value(entry: dict | None) -> tuple:
    if entry is None or not isinstance(entry.get("value"), (int, float)):
        return (1, 0.0)
    return (0, -entry["value"] if entry.get("order", "desc") == "desc" else entry["value"])


def _names(outcome) -> str:
    return f"{outcome.submission.label} ({', '.join(s.name for s in outcome.submission.students)})"


def _slowest(graded: list) -> str:
    slow = sorted(graded, key=lambda o: -o.result.execution_time)[:TOP]
    if not slow:
        return ""
    rows = "".join(f"<tr><td>{_text(_names(o))}</td><td class=num>{o.result.execution_time:.1f}</td>"
                   + "".join(f"<td class=num>{p.name} {p.seconds:.1f}</td>" for p in o.result.parts) + "</tr>"
                   for o in slow)
    return "<h2>Slowest submissions</h2><table><tr><th>submission</th><th>seconds</th><th colspan=9>per part</th></tr>" \
        + rows + "</table>"


def _not_graded(outcomes: list) -> str:
    failed = [o for o in outcomes if o.result is None or o.result.grader_errors]
    if not failed:
        return ""
    rows = "".join(f"<tr><td>{_text(_names(o))}</td><td>{_text(status(o))}</td>"
                   f"<td>{_text(' | '.join(o.result.grader_errors) if o.result else o.log or '')}</td></tr>"
                   for o in failed)
    return ("<h2>Crashed or not graded</h2><table><tr><th>submission</th><th>status</th>"
            "<th>grader errors / worker log</th></tr>" + rows + "</table>")


def _similarity(results: ClassResults, graded: list) -> str:
    config = load_config()
    stubs = stub_fingerprints(HANDOUT_DIR)
    paths = {o.submission.label: o.submission.path for o in results.outcomes}
    sources = {label: submission_fingerprints(path, stubs, config) for label, path in paths.items()}
    code_pairs = similar_code(sources, stubs)[:TOP]
    answer_pairs = same_wrong_answers({o.submission.label: o.result for o in graded})[:TOP]
    parts = ["<h2>Similarity evidence</h2><p class=note>Evidence for a person to read, never a verdict: "
             "scores are not changed. Code is compared with identifiers and literals normalized and the "
             "handout's stubs left out; wrong answers are identical failing checks that few others share.</p>"]
    if not code_pairs and not answer_pairs:
        parts.append("<p>No pair of submissions stands out.</p>")
    for pair in code_pairs:
        first, second = python_sources(paths[pair.first], config), python_sources(paths[pair.second], config)
        parts.append(f"<h3>Code: {_text(pair.first)} and {_text(pair.second)}</h3><p>{pair.shared} shared "
                     f"passages, {pair.overlap:.0%} of the smaller submission's own code.</p><div class=pair>"
                     + _excerpt(pair.first, first, pair.first_lines) + _excerpt(pair.second, second, pair.second_lines)
                     + "</div>")
    for pair in answer_pairs:
        rows = "".join(f"<tr><td>{_text(test)}</td><td>{_text(line)}</td></tr>" for test, line in pair.shared)
        parts.append(f"<h3>Same wrong answers: {_text(pair.first)} and {_text(pair.second)}</h3>"
                     f"<table><tr><th>test</th><th>the same failing check, in both</th></tr>{rows}</table>")
    return "".join(parts)


def _excerpt(label: str, sources: dict, shared_lines: dict) -> str:
    """The shared passages of one submission, highlighted, with a little context."""
    blocks = [f"<div><b>{_text(label)}</b>"]
    for name, numbers in shared_lines.items():
        lines = sources.get(name, "").split("\n")
        marked = set(numbers)
        shown = sorted({n for m in marked for n in range(m - CONTEXT_LINES, m + CONTEXT_LINES + 1)
                        if 1 <= n <= len(lines)})
        text = []
        for previous, n in zip([None, *shown], shown):
            if previous is not None and n != previous + 1:
                text.append("…")
            line = f"{n:4d}  {_text(lines[n - 1], 300)}"
            text.append(f"<mark>{line}</mark>" if n in marked else line)
        blocks.append(f"<p>{_text(name)}</p><pre>" + "\n".join(text) + "</pre>")
    return "".join(blocks) + "</div>"
