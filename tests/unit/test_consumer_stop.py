"""A consumer whose loop did not end within its stop bound still lets every entrypoint stop:
found by the two-instance fault test, where reporting's SIGTERM hung for good with an RPC
entrypoint waiting for its consumer's removal, which only the (killed) loop would have said."""

from __future__ import annotations

from types import SimpleNamespace

import eventlet
from eventlet.event import Event

from werkbrug_shared.consuming import WatchedQueueConsumer


def stuck_consumer() -> WatchedQueueConsumer:
    consumer = WatchedQueueConsumer()
    consumer.container = SimpleNamespace(service_name="reporting")
    consumer.stop_seconds = 0.2
    consumer._consumers_ready.send()  # it had started
    consumer._gt = eventlet.spawn(eventlet.sleep, 3600)  # a consume loop that never ends
    return consumer


def test_an_entrypoint_waiting_for_its_removal_hears_it_when_the_stop_gives_up():
    consumer = stuck_consumer()
    provider = object()
    consumer.register_provider(provider)
    waiting = eventlet.spawn(consumer.unregister_provider, provider)  # as an rpc entrypoint's stop
    eventlet.sleep(0)
    assert provider in consumer._pending_remove_providers
    with eventlet.Timeout(5):
        consumer.stop()
        waiting.wait()
    assert consumer._gt.dead and provider not in consumer._providers


def test_an_entrypoint_stopping_after_the_loop_ended_does_not_wait():
    consumer = stuck_consumer()
    late = object()
    consumer.register_provider(late)
    consumer.register_provider(object())
    with eventlet.Timeout(5):
        consumer.stop()  # gives up on the loop
        consumer.unregister_provider(late)
    assert late not in consumer._providers


def test_a_removal_already_heard_is_not_sent_twice():
    consumer = stuck_consumer()
    heard = Event()
    heard.send()
    consumer._pending_remove_providers[object()] = heard
    with eventlet.Timeout(5):
        consumer.stop()
    assert consumer._pending_remove_providers == {}


def test_an_entrypoint_stops_even_when_the_loop_never_cancels_its_consumer():
    consumer = stuck_consumer()  # its loop never iterates, so it never cancels anything
    provider = object()
    consumer.register_provider(provider)
    with eventlet.Timeout(5):
        consumer.unregister_provider(provider)
    assert provider not in consumer._providers and consumer._pending_remove_providers == {}
