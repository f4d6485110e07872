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


# --- werkbrug partners ------------------------------------------------------------------------


@pytest.fixture
def registry_file(tmp_path, monkeypatch):
    from werkbrug_shared import partner_registry

    path = tmp_path / "partners.yml"
    monkeypatch.setenv("WERKBRUG_PARTNERS_FILE", str(path))
    monkeypatch.setattr(partner_registry, "CHECK_EVERY_SECONDS", 0.0)
    return path


def partners(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(["partners", *argv])
    out = capsys.readouterr()
    return code, out.out.strip(), out.err


def test_partners_add_shows_the_credential_once_and_stores_only_its_hash(registry_file, capsys):
    from werkbrug_shared.actor import partner_for

    code, secret, said = partners(capsys, "add", "gemeente-almelo", "--name", "Gemeente Almelo", "--kind",
                                  "municipality", "--region", "Twente", "--roles", "klantmanager,jobhunter",
                                  "--days", "365")
    assert code == 0 and len(secret) > 40 and secret not in said
    assert secret not in registry_file.read_text()
    partner = partner_for(secret)
    assert (partner.id, partner.region, partner.roles) == ("gemeente-almelo", "Twente", {"klantmanager", "jobhunter"})
    assert partner.credential_id in said
    # a second credential of the same partner needs only its roles and expiry
    code, board, _ = partners(capsys, "add", "gemeente-almelo", "--roles", "board", "--expires", "2099-06-30")
    assert code == 0 and partner_for(board).roles == {"board"} and partner_for(board).id == "gemeente-almelo"

    code, listed, _ = partners(capsys, "list")
    assert code == 0 and secret not in listed and board not in listed
    assert partner.credential_id in listed and "2099-07-01T00:00:00Z" in listed and "active" in listed


@pytest.mark.parametrize("argv, why", [
    (["add", "nieuw", "--roles", "board", "--days", "1"], "new partner"),
    (["add", "nieuw", "--name", "N", "--kind", "uwv", "--region", "Twente", "--roles", "koning", "--days", "1"],
     "unknown role"),
    (["add", "nieuw", "--name", "N", "--kind", "uwv", "--region", "Twente", "--roles", "board", "--expires", "x"],
     "--expires"),
    (["revoke", "c-nobody"], "no credential"),
    (["rotate", "c-nobody"], "no credential"),
])
def test_partners_refuses_what_it_cannot_do_and_writes_nothing(registry_file, capsys, argv, why):
    code, out, said = partners(capsys, *argv)
    assert code == 1 and out == "" and why in said
    assert not registry_file.exists()


def test_partners_needs_an_expiry_and_roles(registry_file):
    with pytest.raises(SystemExit):
        cli.main(["partners", "add", "x", "--roles", "board"])
    with pytest.raises(SystemExit):
        cli.main(["partners", "add", "x", "--days", "3"])


def test_partners_never_writes_the_packaged_development_registry(monkeypatch, capsys):
    from werkbrug_shared.partner_registry import DEV_PARTNERS

    before = DEV_PARTNERS.read_bytes()
    monkeypatch.delenv("WERKBRUG_PARTNERS_FILE", raising=False)
    code, _, said = partners(capsys, "revoke", "gemeente-enschede")
    assert code == 1 and "WERKBRUG_PARTNERS_FILE" in said
    monkeypatch.setenv("WERKBRUG_PARTNERS_FILE", str(DEV_PARTNERS))
    code, _, said = partners(capsys, "revoke", "gemeente-enschede")
    assert code == 1 and "development registry" in said
    assert DEV_PARTNERS.read_bytes() == before
    code, listed, _ = partners(capsys, "list")  # reading it is fine
    assert code == 0 and "gemeente-enschede-board" in listed


def test_partners_revoke_and_rotate(registry_file, capsys):
    from werkbrug_shared.actor import partner_for
    from werkbrug_shared.errors import Unauthorized

    _, first, _ = partners(capsys, "add", "uwv", "--name", "UWV", "--kind", "uwv", "--region", "Twente",
                           "--roles", "jobhunter", "--days", "30")
    first_id = partner_for(first).credential_id
    code, second, said = partners(capsys, "rotate", first_id)
    assert code == 0 and second != first
    with pytest.raises(Unauthorized, match="revoked"):
        partner_for(first)
    assert partner_for(second).roles == {"jobhunter"} and partner_for(second).id == "uwv"

    second_id = partner_for(second).credential_id
    code, third, said = partners(capsys, "rotate", second_id, "--grace-hours", "2", "--days", "90")
    assert code == 0 and "2 hours" in said
    assert partner_for(second).id == "uwv" and partner_for(third).id == "uwv"  # both, for a while
    code, _, _ = partners(capsys, "revoke", second_id)
    assert code == 0
    with pytest.raises(Unauthorized):
        partner_for(second)
    code, _, said = partners(capsys, "revoke", second_id)
    assert code == 1 and "revoked at" in said
    code, listed, _ = partners(capsys, "list")
    states = {line.split()[0]: line.split()[1] for line in listed.splitlines() if line.startswith("  ")}
    assert states == {first_id: "revoked", second_id: "revoked", partner_for(third).credential_id: "active"}


def test_partners_add_of_a_credential_already_expired_warns_and_it_is_refused(registry_file, capsys):
    from werkbrug_shared.actor import partner_for
    from werkbrug_shared.errors import Unauthorized

    code, secret, said = partners(capsys, "add", "uwv", "--name", "UWV", "--kind", "uwv", "--region", "Twente",
                                  "--roles", "all", "--expires", "2020-01-31")
    assert code == 0 and "already expired" in said
    with pytest.raises(Unauthorized, match="expired"):
        partner_for(secret)
