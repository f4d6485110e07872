"""CloudEvents envelope and catalogue."""

from werkbrug_shared.events.catalogue import CATALOGUE, TARGET_GROUPS, event_type, new_event, parse_event
from werkbrug_shared.events.envelope import CONTENT_TYPE, Event

__all__ = ["CATALOGUE", "CONTENT_TYPE", "TARGET_GROUPS", "Event", "event_type", "new_event", "parse_event"]
