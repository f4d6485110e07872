"""`werkbrug run` keeps every service running: one that exits is started again, with back-off."""

from __future__ import annotations

import io
import sys
import time

from werkbrug_shared.runner import Supervisor


def run_until(supervisor: Supervisor, condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.poll()
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_service_that_exits_is_started_again_with_back_off_and_the_others_keep_running(tmp_path):
    crashes = tmp_path / "crashes"
    out = io.StringIO()
    supervisor = Supervisor({
        # dies at once each time, leaving a mark
        "flaky": [sys.executable, "-c", f"open({str(crashes)!r}, 'a').write('x'); raise SystemExit(3)"],
        "steady": [sys.executable, "-c", "import time; time.sleep(60)"],
    }, backoff=0.1, backoff_max=0.4, out=out)
    supervisor.start_all()
    steady = supervisor.procs["steady"]
    try:
        run_until(supervisor, lambda: supervisor.restarts["flaky"] >= 4)
        assert supervisor.procs["steady"] is steady and steady.poll() is None, "the others keep running"
        assert crashes.read_text().count("x") >= 4, "started again each time"
        assert "flaky exited with 3; starting it again in 0.1s (restart 1)" in out.getvalue()
        delays = [line.split(" in ")[1].split("s ")[0] for line in out.getvalue().splitlines()]
        assert delays[:4] == ["0.1", "0.2", "0.4", "0.4"], "the back-off doubles up to its bound"
    finally:
        supervisor.stop(grace=5)
    assert all(proc.poll() is not None for proc in supervisor.procs.values())


def test_stop_terminates_every_service_gracefully():
    supervisor = Supervisor({"a": [sys.executable, "-c", "import time; time.sleep(60)"]})
    supervisor.start_all()
    supervisor.stop(grace=10)
    assert supervisor.procs["a"].returncode == -15  # SIGTERM, not SIGKILL
    assert supervisor.restarts == {"a": 0}
