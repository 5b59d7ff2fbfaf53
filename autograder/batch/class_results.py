"""A batch's outcomes as one JSON file (``class_results.json`` next to the gradebook), which
``grade report`` reads: every submission's label, path, students, error and full result, and the
points of the graded parts."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from autograder.batch.cache import result_from_dict, result_to_dict
from autograder.batch.discover import Student, Submission
from autograder.batch.grade import Outcome
from autograder.engine.results import write_json_atomically

FILE_NAME = "class_results.json"


class ClassResultsError(Exception):
    """The folder holds no readable class results; the message says why."""


@dataclasses.dataclass
class ClassResults:
    outcomes: list  # of Outcome
    points: dict  # part -> points, the graded parts in order
    class_dir: Path


def write_class_results(path: Path, results: ClassResults) -> None:
    write_json_atomically({
        "class_dir": str(results.class_dir), "points": results.points,
        "submissions": [{"label": o.submission.label, "path": str(o.submission.path),
                         "students": [dataclasses.asdict(s) for s in o.submission.students],
                         "error": o.error, "log": str(o.log) if o.log else None, "cached": o.cached,
                         "result": result_to_dict(o.result) if o.result else None}
                        for o in results.outcomes]}, Path(path))


def read_class_results(folder: Path) -> ClassResults:
    """The results a batch wrote into ``folder`` (the gradebook's folder) or the file itself."""
    path = Path(folder) / FILE_NAME if Path(folder).is_dir() else Path(folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        outcomes = [Outcome(Submission(s["label"], Path(s["path"]), tuple(Student(**t) for t in s["students"])),
                            result=result_from_dict(s["result"]) if s["result"] else None,
                            error=s["error"], log=Path(s["log"]) if s["log"] else None, cached=s["cached"])
                    for s in data["submissions"]]
        return ClassResults(outcomes, dict(data["points"]), Path(data["class_dir"]))
    except FileNotFoundError:
        raise ClassResultsError(f"{path} does not exist: run grade batch first (it writes {FILE_NAME} "
                                "next to the gradebook)") from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ClassResultsError(f"{path} cannot be read as class results ({exc}); run grade batch again") from None
