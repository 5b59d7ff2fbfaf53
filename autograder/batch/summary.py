"""What an instructor reads after a batch: the score distribution and the tests most often failed."""
from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

TOP_FAILED = 10


def most_failed_tests(outcomes: list, top: int = TOP_FAILED) -> list:
    """(test name, submissions that failed it, submissions graded), most failed first."""
    graded = [o.result for o in outcomes if o.result is not None]
    failed = Counter(t.name for r in graded for t in r.tests if t.status == "failed")
    return [(name, count, len(graded)) for name, count in failed.most_common(top)]


def summary_markdown(outcomes: list, max_points: dict, histogram: str | None) -> str:
    """``max_points``: part -> points of the graded parts; ``histogram``: the PNG's file name."""
    graded = [o for o in outcomes if o.result is not None]
    students = sum(len(o.submission.students) for o in outcomes)
    lines = ["# Batch summary", "",
             f"- submissions: {len(outcomes)} ({students} students); graded: {len(graded)} "
             f"({sum(o.cached for o in graded)} from the cache); not graded: {len(outcomes) - len(graded)}"]
    if graded:
        totals = [o.result.score for o in graded]
        lines.append(f"- hidden inputs: seed {graded[0].result.seed} (`grade run --seed` reproduces a grade)")
        lines.append(f"- total: mean {statistics.mean(totals):.2f}, median {statistics.median(totals):.2f}, "
                     f"min {min(totals):.2f}, max {max(totals):.2f} (out of {sum(max_points.values()):g})")
        lines += ["", "| part | mean | out of | full marks |", "|---|---|---|---|"]
        for part, points in max_points.items():
            scores = [p.score for o in graded for p in o.result.parts if p.name == part]
            full = sum(s >= points - 1e-6 for s in scores)
            lines.append(f"| {part} | {statistics.mean(scores) if scores else 0:.2f} | {points:g} | "
                         f"{full} of {len(scores)} |")
    failed = most_failed_tests(outcomes)
    if failed:
        lines += ["", "## Tests most often failed", "", "| failed by | test |", "|---|---|"]
        lines += [f"| {count} of {total} | {name} |" for name, count, total in failed]
    not_graded = [o for o in outcomes if o.result is None]
    if not_graded:
        lines += ["", "## Not graded (retried on the next run)", ""]
        lines += [f"- {o.submission.label}: {o.error}" + (f" (log: {o.log})" if o.log else "")
                  for o in not_graded]
    if histogram:
        lines += ["", f"![score histogram]({histogram})"]
    return "\n".join(lines) + "\n"


def write_histogram(path: Path, totals: list, max_total: float) -> None:
    """A PNG histogram of the totals; needs matplotlib (the ``train`` extra)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a grading server
    import matplotlib.pyplot as plt

    figure = histogram_figure(totals, max_total)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def histogram_figure(totals: list, max_total: float):
    """The histogram's matplotlib figure; its y axis counts submissions, so its ticks are whole."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(7, 4))
    axes.hist(totals, bins=20, range=(0, max_total or 1), color="#4C72B0", edgecolor="white")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(f"total score (out of {max_total:g})")
    axes.set_ylabel("submissions")
    axes.set_title(f"Scores of {len(totals)} graded submissions")
    figure.tight_layout()
    return figure
