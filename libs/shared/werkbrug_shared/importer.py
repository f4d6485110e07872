"""``werkbrug import candidates|vacancies FILE``: bulk migration from a legacy system.

Rows go through the public batch RPCs (``candidates.register_many``,
``vacancies.open_many``), a batch per call and a transaction per batch, so the
services validate and event everything exactly as for a single registration.

Resuming: every row carries a ``source_ref`` (the file's own column, or
``<file name>:<line>``); the services refuse to import a source_ref twice for
the same partner and answer with the existing id instead. A state file beside
the input records how far the import got, so a re-run skips finished batches
and re-sends at most the one that was in flight — without duplicates.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from nameko.standalone.rpc import ClusterRpcProxy

from werkbrug_shared import actor, config

# CSV cells holding lists use "|" between items: "bijstand|50plus"
LIST_FIELDS = {
    "candidates": {"target_groups", "skills", "conditions", "occupations_wanted", "available_days",
                   "transport_modes"},
    "vacancies": {"skills_required", "conditions_offered"},
}
INT_FIELDS = {"hours_per_week", "hours_min", "openings", "work_thinking_level", "max_travel_minutes",
              "max_distance_km"}
BOOL_FIELDS = {"banenafspraak", "is_leerwerkbaan", "banenafspraak_suitable"}
JSON_FIELDS = {"must_have", "nice_to_have"}
RPC = {"candidates": ("candidates", "register_many"), "vacancies": ("vacancies", "open_many")}
IN_FLIGHT = 2


def read_rows(path: Path, kind: str):
    """Yield (line number, row dict) from CSV or JSON Lines; bad lines become error rows."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    row = {"__error__": "not a JSON object"}
                yield line_no, row if isinstance(row, dict) else {"__error__": "not a JSON object"}
        return
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for line_no, raw in enumerate(reader, start=2):
            yield line_no, _from_csv(raw, kind)


def _from_csv(raw: dict, kind: str) -> dict:
    row = {}
    for key, value in raw.items():
        if key is None or value is None:
            continue
        value = value.strip()
        if value == "":
            continue
        if key in LIST_FIELDS[kind]:
            row[key] = [v.strip() for v in value.split("|") if v.strip()]
        elif key in INT_FIELDS:
            row[key] = int(value) if value.lstrip("-").isdigit() else value
        elif key in BOOL_FIELDS:
            row[key] = value.lower() in ("1", "true", "ja", "yes", "y")
        elif key in JSON_FIELDS:
            try:
                row[key] = json.loads(value)
            except ValueError:
                row[key] = value
        else:
            row[key] = value
    return row


@dataclass
class Report:
    imported: int = 0
    existing: int = 0
    refused: int = 0  # this run
    conflicts: int = 0
    errors: list = field(default_factory=list)  # (line, field, message)
    refused_total: int = 0  # rows refused over all runs of this import, from the report


def _append_errors(errors_path: Path, errors) -> None:
    new = not errors_path.exists()
    with open(errors_path, "a", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["line", "field", "message"])
        writer.writerows(errors)


def _final_report(errors_path: Path) -> list:
    """The whole report, in line order, each error once (a batch re-sent after
    an interruption may have reported its errors twice)."""
    if not errors_path.exists():
        _append_errors(errors_path, [])
        return []
    with open(errors_path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    unique = sorted({(int(r["line"]), r["field"], r["message"]) for r in rows})
    with open(errors_path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["line", "field", "message"])
        writer.writerows(unique)
    return unique


def _tally(report: Report, line: int, result: dict) -> None:
    if "errors" in result:
        report.refused += 1
        for fld, messages in sorted(result["errors"].items()):
            text = "; ".join(map(str, messages)) if isinstance(messages, list) else json.dumps(messages)
            report.errors.append((line, fld, text))
    elif "conflict" in result:
        report.conflicts += 1
        report.errors.append((line, "_conflict", f"already registered as {result['conflict']}"))
    elif result.get("existing"):
        report.existing += 1
    else:
        report.imported += 1


def _state_path(path: Path) -> Path:
    return path.with_name(path.name + ".import-state.json")


def _progress(done: int, total: int, started: float, stream) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    rate = done / max(time.monotonic() - started, 1e-6)
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows  {rate:,.0f} rows/s")
    stream.flush()


def run_import(kind: str, path: Path, credential: str, batch_size: int = 1000, amqp_uri: str | None = None,
               errors_path: Path | None = None, stream=sys.stderr) -> Report:
    service, method = RPC[kind]
    rows = list(read_rows(path, kind))
    for line_no, row in rows:
        row.setdefault("source_ref", f"{path.name}:{line_no}")
    state_file = _state_path(path)
    start_at = 0
    errors_path = errors_path or path.with_name(path.name + ".errors.csv")
    if not state_file.exists():
        errors_path.unlink(missing_ok=True)  # a fresh import starts a fresh report
    if state_file.exists():
        start_at = json.loads(state_file.read_text()).get("rows_done", 0)
        stream.write(f"resuming after row {start_at} of {len(rows)} (state in {state_file.name})\n")
    report = Report()
    started = time.monotonic()
    with ClusterRpcProxy(config.nameko_config(AMQP_URI=amqp_uri or config.amqp_uri()),
                         context_data=actor.context(credential), timeout=300) as rpc:
        call = getattr(getattr(rpc, service), method)
        in_flight: deque = deque()

        def finish():
            offset, chunk, lines, reply = in_flight.popleft()
            written = len(report.errors)
            for line, row in chunk:
                if "__error__" in row:
                    report.refused += 1
                    report.errors.append((line, "_row", row["__error__"]))
            for result in reply.result() if reply is not None else []:
                _tally(report, lines[result["index"]], result)
            # the batch's errors reach the report before the state says it is done
            _append_errors(errors_path, report.errors[written:])
            done = offset + len(chunk)
            tmp = state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"rows_done": done, "file_size": os.path.getsize(path)}))
            tmp.replace(state_file)  # atomic: a crash leaves the old or the new state, never half
            _progress(done, len(rows), started, stream)

        # Two batches in flight: the service works on one while the client
        # sends the next. Results are taken in order, so the state file only
        # ever claims batches whose predecessors are done too.
        for offset in range(start_at, len(rows), batch_size):
            chunk = rows[offset:offset + batch_size]
            payload = [row for _, row in chunk if "__error__" not in row]
            lines = [line for line, row in chunk if "__error__" not in row]
            in_flight.append((offset, chunk, lines, call.call_async(payload) if payload else None))
            if len(in_flight) >= IN_FLIGHT:
                finish()
        while in_flight:
            finish()
    stream.write("\n")
    report.errors = _final_report(errors_path)
    report.refused_total = len({line for line, fld, _ in report.errors if fld != "_conflict"})
    state_file.unlink(missing_ok=True)  # finished: a later run starts from the top (and finds nothing new)
    return report
