"""The README's quickstart is a contract: its classify command runs on the shipped sample."""

from __future__ import annotations

import re
import shlex

import pytest
from click.testing import CliRunner

from vidgru.cli import cli


def _quickstart_commands(readme: str) -> list[str]:
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def test_quickstart_has_two_commands_and_ci_runs_the_second(repo_root):
    commands = _quickstart_commands((repo_root / "README.md").read_text())
    assert len(commands) == 2
    assert commands[0].startswith("bash .ci/setup && .venv/bin/vidgru classify ")
    assert commands[1] in (repo_root / ".ci/run").read_text()


@pytest.mark.slow  # the backbone end to end, about 10 s
def test_quickstart_classify_runs_on_the_shipped_sample(repo_root, monkeypatch):
    command = _quickstart_commands((repo_root / "README.md").read_text())[0].split("&&", 1)[1]
    args = shlex.split(command)[1:]  # drop the executable
    monkeypatch.chdir(repo_root)
    res = CliRunner().invoke(cli, [*args, "-q"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith(args[1] + ": ")
    assert len(lines) >= 3  # the clip label, the table header, at least one segment
