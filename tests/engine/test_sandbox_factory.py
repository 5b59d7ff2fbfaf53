"""One way to start student code: every command builds its sandboxes with SandboxFactory, from
the configured limits (``grade calibrate`` used to drop all but time, memory and CPU)."""
import dataclasses
import re
from pathlib import Path

from autograder.check import settings_from_config
from autograder.config import load_config
from autograder.engine.sandbox import Isolation, Limits, SandboxFactory

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_every_configured_limit_reaches_the_child():
    config = load_config()
    general = dataclasses.replace(config.limits, file_size_mb=7, max_processes=9, max_output_kb=11,
                                  max_message_mb=13, cpu_seconds=17, threads=3)
    factory = SandboxFactory(dataclasses.asdict(general), Isolation("process", switch_user=False))
    assert factory.limits(2.5, 300) == Limits(call_timeout=2.5, memory_mb=300, cpu_seconds=17,
                                              file_size_mb=7, max_processes=9, max_output_kb=11,
                                              max_message_mb=13, threads=3)
    assert factory.limits(2.5, 300, threads=2).threads == 2


def test_the_handouts_settings_give_the_same_limits_as_the_config():
    config = load_config()
    part = next(iter(settings_from_config(config)["parts"].values()))
    isolation = Isolation("process", switch_user=False)
    from_check = SandboxFactory(settings_from_config(config)["limits"], isolation)
    from_run = SandboxFactory(dataclasses.asdict(config.limits), isolation)
    assert from_check.limits(part["call_timeout"], part["memory_mb"], part.get("threads")) == \
        from_run.limits(part["call_timeout"], part["memory_mb"], part.get("threads"))


def test_no_command_starts_a_sandbox_its_own_way():
    starts = [f"{path.relative_to(PROJECT_ROOT)}:{number}"
              for path in [PROJECT_ROOT / "cli.py", *(PROJECT_ROOT / "autograder").rglob("*.py")]
              if path.name != "sandbox.py"
              for number, line in enumerate(path.read_text().splitlines(), start=1)
              if re.search(r"\bSandbox\(|\bLimits\(", line)]
    assert starts == []
