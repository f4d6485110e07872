"""The partner registry: both formats read, credentials issued, revoked and rotated, changes
seen by a running process without a restart, written atomically, expiry in UTC instants."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone

import pytest
import yaml

from werkbrug_shared import partner_registry, roles
from werkbrug_shared.actor import partner_for
from werkbrug_shared.errors import Unauthorized
from werkbrug_shared.partner_registry import instant, sha256_of

NOW = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)

LEGACY = """
partners:
  - id: gemeente-almelo
    name: Gemeente Almelo
    kind: municipality
    region: Twente
    credential_sha256: {}
    roles: [klantmanager]
  - id: oud
    name: Oud
    kind: uwv
    region: Twente
    credential_sha256: {}
""".format(sha256_of("almelo-secret"), sha256_of("oud-secret"))


@pytest.fixture
def registry_file(tmp_path, monkeypatch):
    path = tmp_path / "partners.yml"
    monkeypatch.setenv("WERKBRUG_PARTNERS_FILE", str(path))
    monkeypatch.setattr(partner_registry, "CHECK_EVERY_SECONDS", 0.0)  # every call looks at the file
    return path


def test_the_first_format_is_read_as_one_credential_per_partner_without_roles_unless_it_names_them():
    registry = partner_registry.parse(yaml.safe_load(LEGACY))
    almelo, oud = registry.by_sha256[sha256_of("almelo-secret")], registry.by_sha256[sha256_of("oud-secret")]
    assert almelo[0].id == "gemeente-almelo" and almelo[1].roles == {"klantmanager"}
    assert almelo[1].id == "h-" + sha256_of("almelo-secret")[:12]
    assert oud[1].roles == frozenset()  # deny by default: an old entry can do nothing non-public until given roles
    assert almelo[1].expires is None and almelo[1].state(NOW) == "active"


def test_the_development_registry_gives_its_first_credentials_every_role_and_has_one_per_role():
    registry = partner_registry.load(partner_registry.DEV_PARTNERS)
    for p in registry.partners:
        assert p.credentials[0].id == p.id and p.credentials[0].roles == roles.ALL
        assert sha256_of(f"dev-{p.id}") == p.credentials[0].sha256
    for role in roles.ALL:
        assert partner_for(f"dev-gemeente-enschede-{role}").roles == {role}


@pytest.mark.parametrize("bad", [
    {"partners": [{"id": "a", "name": "A", "kind": "k"}]},  # no region
    {"partners": [{"id": "a", "name": "A", "kind": "k", "region": "r",
                   "credentials": [{"id": "c", "sha256": "zz"}]}]},
    {"partners": [{"id": "a", "name": "A", "kind": "k", "region": "r",
                   "credentials": [{"id": "c", "sha256": "a" * 64, "roles": ["koning"]}]}]},
    {"partners": [{"id": "a", "name": "A", "kind": "k", "region": "r",
                   "credentials": [{"id": "c", "sha256": "a" * 64}, {"id": "c", "sha256": "b" * 64}]}]},
    {"partners": [{"id": "a", "name": "A", "kind": "k", "region": "r",
                   "credentials": [{"id": "c", "sha256": "a" * 64}, {"id": "d", "sha256": "a" * 64}]}]},
    {"partners": [{"id": "a", "name": "A", "kind": "k", "region": "r",
                   "credentials": [{"id": "c", "sha256": "a" * 64, "expires": "morgen"}]}]},
])
def test_a_registry_that_is_wrong_says_where(bad):
    with pytest.raises(ValueError):
        partner_registry.parse(bad)


def test_an_expiry_is_an_instant_in_utc_and_a_date_lasts_the_whole_day():
    assert instant("2027-06-30") == datetime(2027, 7, 1, tzinfo=UTC)
    assert instant("2027-06-30T12:00:00+02:00") == datetime(2027, 6, 30, 10, tzinfo=UTC)
    assert instant("2027-06-30T12:00:00Z") == datetime(2027, 6, 30, 12, tzinfo=UTC)
    assert instant("2027-06-30T12:00:00") == datetime(2027, 6, 30, 12, tzinfo=UTC)  # no offset: UTC
    assert instant(datetime(2027, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == datetime(2027, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        instant("30-06-2027")


def test_issue_revoke_and_rotate():
    registry, first, secret = partner_registry.issue(
        partner_registry.Registry.of([]), "gemeente-almelo", frozenset({"klantmanager", "jobhunter"}),
        NOW + timedelta(days=30), NOW, name="Gemeente Almelo", kind="municipality", region="Twente")
    assert registry.by_sha256[sha256_of(secret)][1] == first and secret not in partner_registry.dump(registry)
    with pytest.raises(ValueError, match="new partner"):
        partner_registry.issue(registry, "nieuw", frozenset({"board"}), None, NOW)
    with pytest.raises(ValueError, match="region"):
        partner_registry.issue(registry, "gemeente-almelo", frozenset({"board"}), None, NOW, region="Utrecht")
    with pytest.raises(ValueError, match="role"):
        partner_registry.issue(registry, "gemeente-almelo", frozenset(), None, NOW)

    rotated, second, new_secret = partner_registry.rotate(registry, first.id, NOW)
    assert second.roles == first.roles and second.expires == first.expires and new_secret != secret
    assert rotated.credential(first.id)[1].state(NOW) == "revoked"
    assert rotated.credential(second.id)[1].state(NOW) == "active"

    graced, third, _ = partner_registry.rotate(registry, first.id, NOW, grace=timedelta(hours=2))
    old = graced.credential(first.id)[1]
    assert old.revoked is None and old.expires == NOW + timedelta(hours=2)
    assert old.state(NOW + timedelta(hours=1)) == "active" and old.state(NOW + timedelta(hours=2)) == "expired"

    with pytest.raises(ValueError, match="revoked"):
        partner_registry.revoke(rotated, first.id, NOW)
    with pytest.raises(LookupError):
        partner_registry.revoke(rotated, "c-nobody", NOW)
    # and it reads back as it was
    assert partner_registry.parse(yaml.safe_load(partner_registry.dump(graced))) == graced


def test_a_running_process_sees_a_new_a_revoked_and_an_expired_credential_without_a_restart(registry_file):
    registry_file.write_text(LEGACY)
    assert partner_for("almelo-secret").id == "gemeente-almelo"
    now = datetime.now(UTC)
    with partner_registry.editing(registry_file) as held:
        held[0], new, secret = partner_registry.issue(held[0], "gemeente-almelo", frozenset({"board"}),
                                                      now + timedelta(days=1), now)
        held[0], expired, old_secret = partner_registry.issue(held[0], "gemeente-almelo", frozenset({"board"}),
                                                              now - timedelta(seconds=1), now)
    assert partner_for(secret).roles == {"board"} and partner_for(secret).credential_id == new.id
    with pytest.raises(Unauthorized, match="expired"):
        partner_for(old_secret)
    with partner_registry.editing(registry_file) as held:
        held[0] = partner_registry.revoke(held[0], new.id, now)
    with pytest.raises(Unauthorized, match="revoked"):
        partner_for(secret)
    assert partner_for("almelo-secret").id == "gemeente-almelo"  # the others stay


def test_the_file_is_looked_at_at_most_once_an_interval(registry_file, monkeypatch):
    registry_file.write_text(LEGACY)
    assert partner_for("oud-secret").id == "oud"
    monkeypatch.setattr(partner_registry, "CHECK_EVERY_SECONDS", 3600.0)
    partner_for("oud-secret")  # looked at just now
    with partner_registry.editing(registry_file) as held:
        held[0] = partner_registry.revoke(held[0], partner_registry.legacy_id(sha256_of("oud-secret")),
                                          datetime.now(UTC))
    assert partner_for("oud-secret").id == "oud"  # not yet: the hot path does not stat on every call
    monkeypatch.setattr(partner_registry, "CHECK_EVERY_SECONDS", 0.0)
    with pytest.raises(Unauthorized):
        partner_for("oud-secret")


def test_a_broken_file_keeps_the_registry_read_before(registry_file):
    registry_file.write_text(LEGACY)
    assert partner_for("oud-secret").id == "oud"
    registry_file.write_text("partners: [{id: x}]\n")
    assert partner_for("oud-secret").id == "oud"
    registry_file.write_text(LEGACY.replace("Oud", "Oud en nieuw"))
    assert partner_for("oud-secret").name == "Oud en nieuw"


def test_writes_replace_the_file_whole_keep_its_mode_and_never_touch_the_packaged_one(registry_file, tmp_path):
    registry_file.write_text(LEGACY)
    os.chmod(registry_file, 0o600)
    inode = registry_file.stat().st_ino
    with partner_registry.editing(registry_file) as held:
        held[0] = partner_registry.revoke(held[0], partner_registry.legacy_id(sha256_of("oud-secret")), NOW)
    assert registry_file.stat().st_ino != inode  # a new file renamed over the old: readers see one or the other
    assert registry_file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    with partner_registry.editing(registry_file) as held:  # nothing changed: nothing written
        pass
    with pytest.raises(partner_registry.PackagedFile):
        with partner_registry.editing(partner_registry.DEV_PARTNERS):
            pass
    with pytest.raises(RuntimeError):  # a failed change writes nothing
        with partner_registry.editing(registry_file) as held:
            held[0] = partner_registry.Registry.of([])
            raise RuntimeError("stop")
    assert "gemeente-almelo" in registry_file.read_text()

