"""`grade audit` from the command line: a progress bar, the table, and a report file."""
import json

from click.testing import CliRunner

from cli import main


def test_audit_writes_its_report(tmp_path):
    report = tmp_path / "audit.json"
    result = CliRunner().invoke(main, ["audit", "--part", "shapes", "--sample", "2", "--seed", "3",
                                       "--output", str(report)])
    assert result.exit_code == 0, result.output
    assert "Mutation score" in result.output and "shapes" in result.output
    [part] = json.loads(report.read_text())["parts"]
    assert part["part"] == "shapes" and part["mutants"] == 2
    assert all(v["killed"] for v in part["verdicts"])


def test_audit_refuses_a_part_it_cannot_mutate():
    result = CliRunner().invoke(main, ["audit", "--part", "cifar10"])
    assert result.exit_code == 2 and "cannot audit part(s) ['cifar10']" in result.output
