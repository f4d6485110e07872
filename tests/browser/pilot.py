"""Headless Chromium for the browser tests, in a process of its own.

The tests' process is eventlet-patched (see tests/conftest.py), and
playwright's asyncio driver hangs there when it shuts down. So the browser
runs in this plain Python process, driven over stdin/stdout, one JSON command
per line and one JSON answer per line:

    {"op": "open", "url": "http://127.0.0.1:8000/board"}
    {"op": "wait_text", "selector": "[data-total=placed]", "text": "6", "timeout_ms": 10000}
    {"op": "screenshot", "path": "test-artifacts/board.png"}

``fake`` serves the page from its folder with a given board document instead
of a gateway, and ``set_board`` changes that document (the page's own polling
picks it up), optionally with a version ahead of it. Debian's Chromium (/usr/bin/chromium) is used; playwright never
downloads a browser here.
"""

from __future__ import annotations

import json
import mimetypes
import os
import subprocess
import sys
import time
from pathlib import Path

CHROMIUM = os.environ.get("WERKBRUG_CHROMIUM", "/usr/bin/chromium")
FAKE_ORIGIN = "http://board.test"


class Pilot:
    """The tests' side: starts the pilot process and sends it commands."""

    def __init__(self, log_path: Path):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 (lives as long as the process)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        self.proc = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            env=env, text=True, bufsize=1,
        )
        self.call("ping", timeout_s=60)

    def call(self, op: str, timeout_s: float = 60, **args):
        import eventlet  # the tests' process is eventlet-patched: its pipes are green

        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        with eventlet.Timeout(timeout_s, AssertionError(f"browser: no answer to {op} within {timeout_s}s")):
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the browser pilot exited ({self.proc.poll()}); see its log")
        answer = json.loads(line)
        if not answer["ok"]:
            raise AssertionError(f"browser: {op} failed: {answer['error']}")
        return answer.get("value")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("quit")
            except Exception:
                self.proc.kill()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# ---- the pilot process ---------------------------------------------------------------


def serve() -> None:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    fake = {"board": None, "static": None}

    def on_console(msg):
        if msg.type in ("error", "warning"):
            problems.append(f"console {msg.type}: {msg.text}")

    def fake_route(route):
        path = route.request.url.removeprefix(FAKE_ORIGIN).split("?")[0]
        if path == "/v1/board":
            return route.fulfill(status=200, content_type="application/json", body=json.dumps(fake["board"]))
        if path == "/v1/board/version":
            body = json.dumps({"version": fake.get("version") or fake["board"]["version"]})
            return route.fulfill(status=200, content_type="application/json", body=body)
        name = "index.html" if path == "/board" else path.removeprefix("/board/static/")
        file = (Path(fake["static"]) / name).resolve()
        if not file.is_file() or Path(fake["static"]).resolve() not in file.parents:
            return route.fulfill(status=404, body="not found")
        return route.fulfill(status=200, body=file.read_bytes(),
                             content_type=mimetypes.guess_type(name)[0] or "application/octet-stream")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--disable-dev-shm-usage"])
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL",
                                      timezone_id="Europe/Amsterdam")
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

        def run(op: str, args: dict):
            if op == "ping":
                return "pong"
            if op == "open":
                page.goto(args["url"], wait_until="load")
                return page.url
            if op == "fake":
                fake.update(board=args["board"], static=args["static"])
                page.route(f"{FAKE_ORIGIN}/**", fake_route)
                page.goto(f"{FAKE_ORIGIN}/board", wait_until="load")
                return page.url
            if op == "set_board":  # ``version``: what the version route says, if ahead of the board
                fake.update(board=args["board"], version=args.get("version"))
                return None
            if op == "wait_text":
                started = time.monotonic()
                page.wait_for_function(
                    "([sel, text]) => { const n = document.querySelector(sel);"
                    " return n !== null && n.textContent.trim() === text; }",
                    arg=[args["selector"], args["text"]], timeout=args.get("timeout_ms", 10_000), polling=20,
                )
                return round((time.monotonic() - started) * 1000, 1)
            if op == "viewport":
                page.set_viewport_size({"width": args["width"], "height": args["height"]})
                return None
            if op == "text":
                return page.locator(args["selector"]).first.text_content().strip()
            if op == "rows":  # the cells' text of each table row matched
                return page.eval_on_selector_all(
                    args["selector"], "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))")
            if op == "texts":
                return [t.strip() for t in page.locator(args["selector"]).all_text_contents()]
            if op == "eval":
                return page.evaluate(args["js"])
            if op == "screenshot":
                Path(args["path"]).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=args["path"], full_page=args.get("full_page", True))
                return args["path"]
            if op == "problems":
                found = list(problems)
                problems.clear()
                return found
            raise ValueError(f"unknown op {op!r}")

        for line in sys.stdin:
            command = json.loads(line)
            op = command.pop("op")
            if op == "quit":
                print(json.dumps({"ok": True}), flush=True)
                break
            try:
                answer = {"ok": True, "value": run(op, command)}
            except Exception as exc:
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(answer), flush=True)
        browser.close()


if __name__ == "__main__":
    serve()
