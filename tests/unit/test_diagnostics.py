"""SIGUSR1's dump of green threads shows the ones a settled heap froze too."""

from __future__ import annotations

import gc
import logging

import eventlet

from werkbrug_shared import diagnostics


def test_the_dump_shows_green_threads_started_before_the_heap_was_frozen(caplog):
    def waiting_since_start():
        eventlet.sleep(30)

    thread = eventlet.spawn(waiting_since_start)
    eventlet.sleep(0)
    gc.freeze()  # as db.settle_heap does once a service started
    try:
        with caplog.at_level(logging.WARNING, logger="werkbrug_shared.diagnostics"):
            diagnostics.dump_green_threads()
        assert "waiting_since_start" in caplog.text
        assert gc.get_freeze_count() > 0, "frozen again after the look"
    finally:
        gc.unfreeze()
        thread.kill()
