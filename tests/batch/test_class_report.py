"""``grade report``: the class page, from class results made here (no grading), opened in a real
headless browser (Debian's chromium, driven by Playwright): the plots load, the tables render,
and student-made names and messages stay text."""
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from autograder.batch.class_results import ClassResults, read_class_results, write_class_results
from autograder.batch.discover import Student, Submission
from autograder.batch.grade import Outcome
from autograder.engine import results
from autograder.engine.plugin import FAIL, PASS
from autograder.run import HANDOUT_DIR
from cli import main
from tests.batch.test_similarity import LOOPS, NUMPY, RECURSIVE, _renamed_and_reordered

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
HOSTILE_NAME = '<img src=x onerror="document.title=\'pwned\'">'


def _result(score: float, seconds: float, ratio: float, accuracy: float, wrong: str = "") -> results.GradeResult:
    tests = [results.TestResult("shapes: same_padding", "shapes", "1.1", 5.0 if not wrong else 0.0, 5.0,
                                f"{FAIL} {wrong}" if wrong else f"{PASS} same_padding(3)", "visible"),
             results.TestResult("fast_layers: conv speed", "fast_layers", "3.1", score, 10.0,
                                f"conv_forward_fast on cpu: your code took {ratio:.2f}x the reference's time "
                                "(1.0 ms vs 1.0 ms)", "visible")]
    parts = [results.PartSummary("shapes", tests[0].score, 5.0, 2.0),
             results.PartSummary("fast_layers", score, 10.0, seconds)]
    board = [{"name": "Accuracy", "value": accuracy, "order": "desc"},
             {"name": "Parameters", "value": 1000, "order": "asc"}]
    return results.GradeResult(tests=tests, parts=parts, execution_time=seconds + 2, isolation="test",
                               leaderboard=board)


@pytest.fixture
def class_results(tmp_path) -> Path:
    class_dir, out = tmp_path / "class", tmp_path / "out"
    codes = {"ada": LOOPS, "bo": RECURSIVE, "cy": NUMPY, "dee": _renamed_and_reordered(LOOPS), "eve": LOOPS}
    outcomes = []
    for i, (name, code) in enumerate(codes.items()):
        (class_dir / name).mkdir(parents=True)
        (class_dir / name / "shapes.py").write_text((HANDOUT_DIR / "shapes.py").read_text() + "\n\n" + code)
        wrong = "same_padding(7): returned 4, which is wrong\n✗ same_padding(9): returned 5" if name in ("bo", "cy") else ""
        student = Student(HOSTILE_NAME if name == "eve" else name)
        outcomes.append(Outcome(Submission(name, class_dir / name, (student,)),
                                result=_result(10.0 - i, 3.0 + i, 1.0 + i, 70.0 + i, wrong)))
    shutil.rmtree(class_dir / "eve")  # a submission no longer on disk: still in the tables
    (class_dir / "frank").mkdir()
    outcomes.append(Outcome(Submission("frank", class_dir / "frank", (Student("frank"),)),
                            error="time limit of 20 s for the whole submission exceeded"))
    write_class_results(out / "class_results.json",
                        ClassResults(outcomes, {"shapes": 5.0, "fast_layers": 10.0}, class_dir))
    return out


def test_class_results_round_trip(class_results):
    loaded = read_class_results(class_results)
    assert [o.submission.label for o in loaded.outcomes] == ["ada", "bo", "cy", "dee", "eve", "frank"]
    assert loaded.outcomes[0].result.leaderboard[0]["value"] == 70.0 and loaded.outcomes[-1].result is None


def test_missing_class_results_are_one_line(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code != 0 and "run grade batch first" in result.output


def test_without_matplotlib_the_page_keeps_its_tables_and_says_how_to_get_the_plots(class_results,
                                                                                     monkeypatch):
    monkeypatch.setattr("autograder.batch.class_report.plotting_available", lambda: False)
    result = CliRunner().invoke(main, ["report", str(class_results)])
    assert result.exit_code == 0, result.output
    assert 'No plots: matplotlib is not installed (pip install "cnn-autograder[train]").' in result.output
    text = (class_results / "class_report.html").read_text()
    assert "<img" not in text and text.count("plot left out: matplotlib is not installed") == 2
    assert "<h2>Scores</h2>" in text and "CIFAR-10 leaderboard" in text


def test_report_page_renders_in_a_headless_browser(class_results):
    result = CliRunner().invoke(main, ["report", str(class_results)])
    assert result.exit_code == 0, result.output
    page_file = class_results / "class_report.html"
    text = page_file.read_text()
    assert HOSTILE_NAME not in text and "&lt;img src=x" in text
    assert "Code: ada and dee" in text and "Same wrong answers: bo and cy" in text
    assert "Code: ada and eve" not in text  # eve's code is gone: nothing to compare
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (.ci/run installs it with apt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            headings = page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")
            rows = page.eval_on_selector_all("table", "ts => ts.map(t => t.rows.length)")
            title = page.title()
        finally:
            browser.close()
    assert len(widths) == 2 and all(w > 0 for w in widths)  # score histograms and speed ratios
    assert {"Scores", "Pass rate of every test", "Most common failures", "Speed ratios of the timed tests",
            "CIFAR-10 leaderboard", "Slowest submissions", "Crashed or not graded",
            "Similarity evidence"} <= set(headings)
    assert rows and all(n >= 2 for n in rows)  # a header and at least one row each
    assert title == "Class report"  # the hostile name's onerror never ran
