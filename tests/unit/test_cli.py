"""The ``werkbrug`` command: the shared library knows no service, a service brings its commands."""

from __future__ import annotations

import ast
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import werkbrug_shared
from werkbrug_shared import cli
from werkbrug_shared.config import SERVICES


def test_the_shared_library_imports_no_service():
    found = []
    for path in sorted(Path(werkbrug_shared.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] in SERVICES]
    assert found == []


def test_reporting_rebuild_is_reportings_own_command(monkeypatch):
    import reporting.rebuild

    called = []
    monkeypatch.setattr(reporting.rebuild, "main", lambda **kw: called.append(kw) or 0)
    assert cli.main(["reporting", "rebuild", "--batch-size", "7"]) == 0
    assert called == [{"batch_size": 7}]
    assert cli.main(["reporting", "rebuild"]) == 0
    assert called[-1] == {"batch_size": 5000}
    with pytest.raises(SystemExit):
        cli.main(["reporting"])  # an action is required, as before


def test_a_service_whose_commands_do_not_load_takes_no_other_command_with_it(monkeypatch, capsys):
    broken = EntryPoint("broken", "no_such_service.cli:register", cli.COMMANDS)
    good = EntryPoint("reporting", "reporting.cli:register", cli.COMMANDS)
    monkeypatch.setattr(cli, "entry_points", lambda group: [broken, good] if group == cli.COMMANDS else [])
    with pytest.raises(SystemExit) as done:
        cli.main(["reporting", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr()
    assert "rebuild" in out.out and "the broken commands are left out" in out.err
