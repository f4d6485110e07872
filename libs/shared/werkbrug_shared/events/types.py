"""Every event type's name as a constant, made from the catalogue.

``nl.werkbrug.<entity>.<action>.v1`` is ``ENTITY_ACTION`` (``placement.recorded`` is
``PLACEMENT_RECORDED``; a later version keeps its suffix, ``..._V2``). The catalogue's
``_t(...)`` line is the only place a type is written down: a service says
``from werkbrug_shared.events.types import PLACEMENT_RECORDED``, so a misspelt name fails
at import instead of emitting or consuming a type nobody publishes.
"""

from __future__ import annotations

from werkbrug_shared.events.catalogue import CATALOGUE

PREFIX = "nl.werkbrug."


def constant_name(type_name: str) -> str:
    """``nl.werkbrug.aftercare_task.completed.v1`` -> ``AFTERCARE_TASK_COMPLETED``."""
    entity_action, _, version = type_name.removeprefix(PREFIX).rpartition(".")
    name = entity_action.replace(".", "_").upper()
    return name if version == "v1" else f"{name}_{version.upper()}"


NAMES: dict[str, str] = {constant_name(t): t for t in CATALOGUE}
if len(NAMES) != len(CATALOGUE):  # two types would share a constant: say so at import, not at a wrong emit
    raise RuntimeError("event types whose constant names collide: " + ", ".join(sorted(CATALOGUE)))
globals().update(NAMES)
__all__ = sorted(NAMES)
