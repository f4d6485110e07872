"""Start a service's ``nameko run`` in a moment, hundreds of times.

A fault run restarts services a few hundred times; on two shared cores the
Python imports of each start (about a CPU second) would set the pace of the
whole run. A fork server per service imports everything once (after
eventlet's monkey patching, as ``nameko run`` does) and forks a child for
each start, which then runs nameko's own ``run`` command with its own
environment, log and crash points: a separate process as before, with new
connections, new state and nothing shared but the imported code.

Protocol (lines on stdin/stdout): ``{"env": {...}, "log": path, "config": path}``
→ ``pid <n>``. The server reaps its children and writes each one's exit status
to ``<status_dir>/<pid>.exit`` (as ``Popen.returncode`` would read: ``-9`` for SIGKILL).
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # first, as nameko run does: what is imported below is imported green

import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from eventlet import patcher  # noqa: E402

_os = patcher.original("os")
_select = patcher.original("select")


_children: set[int] = set()


def _stop_children(status_dir: Path) -> None:
    import signal
    import time

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in list(_children):
            try:
                _os.kill(pid, sig)
            except ProcessLookupError:
                _children.discard(pid)
        deadline = time.monotonic() + 10
        while _children and time.monotonic() < deadline:
            _reap(status_dir)
            time.sleep(0.1)


def _reap(status_dir: Path) -> None:
    while True:
        try:
            pid, status = _os.waitpid(-1, _os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _children.discard(pid)
        code = -_os.WTERMSIG(status) if _os.WIFSIGNALED(status) else _os.WEXITSTATUS(status)
        tmp = status_dir / f"{pid}.exit.tmp"
        tmp.write_text(str(code))
        tmp.rename(status_dir / f"{pid}.exit")


def _child(request: dict, service: str) -> None:
    """In the forked child: become the service (never returns)."""
    try:
        fd = _os.open(request["log"], _os.O_WRONLY | _os.O_CREAT | _os.O_APPEND, 0o644)
        _os.dup2(fd, 1)
        _os.dup2(fd, 2)
        _os.close(fd)
        null = _os.open(_os.devnull, _os.O_RDONLY)
        _os.dup2(null, 0)
        _os.close(null)
        os.environ.clear()
        os.environ.update(request["env"])
        random.seed()  # not the sequence every sibling inherited
        from werkbrug_shared import faults

        faults._CHANCES = faults.parse(os.environ.get(faults.ENV, ""))  # read at import, in the server
        from nameko.cli.main import main

        sys.argv = ["nameko", "run", "--config", request["config"], f"{service}.service"]
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    _os._exit(code)


def serve(service: str, status_dir: Path) -> None:
    importlib.import_module(f"{service}.service")
    importlib.import_module("nameko.cli.main")
    importlib.import_module("nameko.cli.run")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    buffer = b""
    while True:
        readable, _, _ = _select.select([0], [], [], 0.05)
        _reap(status_dir)
        if not readable:
            continue
        chunk = _os.read(0, 65536)
        if not chunk:
            _stop_children(status_dir)  # the test went away: its services go too
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            pid = _os.fork()
            if pid == 0:
                _child(request, service)
            _children.add(pid)
            sys.stdout.write(f"pid {pid}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    serve(sys.argv[1], Path(sys.argv[2]))
