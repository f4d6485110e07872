"""``kill -USR1 <pid>``: log the stack of every green thread of a service.

OS-level tools (py-spy) only see the eventlet hub; a stuck consumer or worker
is a greenlet, and this is how an operator sees where it waits.
"""

from __future__ import annotations

import gc
import logging
import signal
import traceback

import greenlet

log = logging.getLogger(__name__)


def dump_green_threads(*_):
    stacks = []
    # a settled heap (db.settle_heap) hides what it froze, the threads started with the
    # service among them, from gc.get_objects(): unfreeze for the look, freeze again after
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    try:
        for obj in gc.get_objects():
            if isinstance(obj, greenlet.greenlet) and obj.gr_frame is not None:
                stacks.append("".join(traceback.format_stack(obj.gr_frame)))
    finally:
        if frozen:
            gc.freeze()
    log.warning("%d green threads:\n%s", len(stacks), "\n----\n".join(stacks))


def install() -> None:
    signal.signal(signal.SIGUSR1, dump_green_threads)
