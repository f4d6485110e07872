"""``@event_handler``: what runs in the worker for a batch of events.

Each event is handled once per handler (idempotent on its CloudEvents id): ids
already processed are skipped, the rest run in the handler's unit of work
together with their "processed" markers, with a savepoint per event should the
batch as a whole fail. The consumer that feeds it and settles each event
(ack, retry, dead letter) is ``event_consumer.ReliableEventHandler``.
"""

from __future__ import annotations

import functools
import logging
import sys

from werkbrug_shared.entrypoints.event_consumer import DUPLICATE, PROCESSED, ReliableEventHandler

log = logging.getLogger(__name__)


def event_handler(*type_names: str, batch: bool = False, unit_of_work: str = "db", **kwargs):
    """Decorate a method as a reliable, idempotent consumer of ``type_names``.

    The method takes one event, or with ``batch=True`` a list of events (so it
    can load what they touch in a few queries instead of a few per event).
    Around it, per delivered batch: event ids this handler already processed
    are skipped; the rest run in one transaction with their "processed"
    markers. Should that fail, the batch runs again with a savepoint per
    event, so only the failing event is retried or dead-lettered and the
    others commit.

    ``unit_of_work`` names the service's ``Database`` attribute the handler
    works in and its markers are written to (``db`` in every werkbrug
    service); a service without it fails at start.
    """

    def decorate(fn):
        def call(service, events):
            if batch:
                fn(service, events)
            else:
                for event in events:
                    fn(service, event)

        @functools.wraps(fn)
        def handle_batch(service, events):
            uow = getattr(service, unit_of_work)
            consumer = f"{service.name}.{fn.__name__}"
            outcomes, fresh = {}, []
            seen = uow.processed_among(consumer, [e.id for e in events])
            for event in events:
                if event.id in seen:
                    outcomes[event.id] = DUPLICATE
                else:
                    seen.add(event.id)
                    fresh.append(event)
            if len(fresh) == 1:  # the transaction is this event's alone: no savepoint needed
                (event,) = fresh
                mark = uow.mark()
                try:
                    call(service, fresh)
                    uow.mark_processed(consumer, event.id)
                    outcomes[event.id] = PROCESSED
                except Exception:
                    outcomes[event.id] = sys.exc_info()
                    uow.session.rollback()
                    uow.forget_since(mark)
                return outcomes
            if len(fresh) > 1:
                mark = uow.mark()
                try:
                    with uow.session.begin_nested():
                        call(service, fresh)
                        uow.mark_processed_many(consumer, [e.id for e in fresh])
                    outcomes.update((e.id, PROCESSED) for e in fresh)
                    return outcomes
                except Exception as exc:
                    log.info("%s: a batch of %s failed (%s: %s); taking its events one by one",
                             consumer, len(fresh), type(exc).__name__, str(exc)[:300])
                    uow.forget_since(mark)  # fall back to one savepoint per event
            for event in fresh:
                mark = uow.mark()
                try:
                    with uow.session.begin_nested():
                        call(service, [event])
                        uow.mark_processed(consumer, event.id)
                    outcomes[event.id] = PROCESSED
                except Exception:
                    uow.forget_since(mark)
                    outcomes[event.id] = sys.exc_info()
            return outcomes

        return ReliableEventHandler.decorator(*type_names, unit_of_work=unit_of_work, **kwargs)(handle_batch)

    return decorate
