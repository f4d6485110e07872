"""The relay packs consecutive events of one type into CloudEvents batches, in order."""

from __future__ import annotations

from werkbrug_shared.outbox import AmqpEventPublisher


def events(*types):
    return [("candidates", t, f"id-{i}", "{}") for i, t in enumerate(types)]


def groups(per_message, *types):
    publisher = AmqpEventPublisher("amqp://unused", per_message=per_message)
    return [[e[2] for e in group] for group in publisher._messages(events(*types))]


def test_consecutive_events_of_one_type_share_a_message_up_to_the_limit():
    assert groups(3, "a", "a", "a", "a", "b", "a") == [["id-0", "id-1", "id-2"], ["id-3"], ["id-4"], ["id-5"]]


def test_one_event_per_message_when_asked():
    assert groups(1, "a", "a") == [["id-0"], ["id-1"]]


def test_events_of_another_source_never_share_a_message():
    mixed = [("candidates", "a", "1", "{}"), ("vacancies", "a", "2", "{}")]
    publisher = AmqpEventPublisher("amqp://unused", per_message=10)
    assert [len(g) for g in publisher._messages(mixed)] == [1, 1]
