"""One set of event type names, made from the catalogue, and services that use it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from werkbrug_shared.events import CATALOGUE, types

ROOT = Path(__file__).resolve().parents[2]
# services whose code says every event type by its constant (aftercare and matching: issue 17 §3, to follow)
NAMED = ("candidates", "vacancies", "reporting", "gateway", "matching", "aftercare")


def test_every_catalogue_type_has_one_constant_and_every_constant_is_a_catalogue_type():
    assert sorted(types.NAMES.values()) == sorted(CATALOGUE)
    assert set(types.__all__) == set(types.NAMES)
    for constant, type_name in types.NAMES.items():
        assert getattr(types, constant) == type_name


@pytest.mark.parametrize(("type_name", "constant"), [
    ("nl.werkbrug.placement.recorded.v1", "PLACEMENT_RECORDED"),
    ("nl.werkbrug.aftercare_task.completed.v1", "AFTERCARE_TASK_COMPLETED"),
    ("nl.werkbrug.matching.fairness_counted.v1", "MATCHING_FAIRNESS_COUNTED"),
    ("nl.werkbrug.placement.recorded.v2", "PLACEMENT_RECORDED_V2"),  # a new version beside the old
])
def test_a_constant_is_the_entity_and_action(type_name, constant):
    assert types.constant_name(type_name) == constant


def test_an_unknown_name_fails_at_import():
    with pytest.raises(ImportError):
        from werkbrug_shared.events.types import PLACEMENT_RECORDEDD  # noqa: F401


@pytest.mark.parametrize("service", NAMED)
def test_services_spell_no_event_type(service):
    spelt = re.compile(r"""["']nl\.werkbrug\.""")
    found = [f"{path.relative_to(ROOT)}:{n}"
             for path in sorted((ROOT / "services" / service / service).rglob("*.py")) if "migrations" not in path.parts
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if spelt.search(line)]
    assert found == []
