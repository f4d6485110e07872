"""Inzage (AVG art. 15): everything werkbrug holds on one person, from every service.

Each service that stores something about a person answers ``inzage(candidate_id)`` over RPC
with ``{"service": name, "records": {kind: [rows]}}`` (JSON values), to the organisation that
registered the person only. :func:`gather` asks candidates first (which refuses anyone else,
before another service is asked), then every other service with the caller's credential, and
puts the answers in one document; :func:`to_html` renders it as one readable, self-contained
page (every value escaped, no script, no external asset). ``werkbrug inzage CANDIDATE_ID
--credential ... [--html FILE]`` runs both.

A service that does not (yet) answer ``inzage`` is named under ``not_answered`` instead of
failing the whole request.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime

from nameko.exceptions import MethodNotFound, RemoteError, UnknownService

# candidates first: it decides whether the caller may ask at all
SERVICES = ("candidates", "matching", "aftercare", "vacancies", "reporting")


def gather(rpc, candidate_id: str, services=SERVICES, now: datetime | None = None) -> dict:
    """One document of what every service holds on ``candidate_id``, asked over ``rpc`` (a
    ClusterRpcProxy carrying the caller's credential). Forbidden/NotFound from candidates
    propagate: nobody else is asked then."""
    document = {
        "candidate_id": candidate_id,
        "generated_at": (now or datetime.now(UTC)).isoformat(),
        "services": {},
        "not_answered": {},
    }
    for service in services:
        try:
            answer = getattr(rpc, service).inzage(candidate_id)
        except (MethodNotFound, UnknownService) as exc:
            if service == services[0]:
                raise
            document["not_answered"][service] = f"{type(exc).__name__}: does not answer inzage"
            continue
        except RemoteError as exc:
            if exc.exc_type not in ("MethodNotFound", "UnknownService") or service == services[0]:
                raise
            document["not_answered"][service] = f"{exc.exc_type}: does not answer inzage"
            continue
        document["services"][answer.get("service", service)] = answer.get("records", {})
    return document


def gather_with(credential: str, candidate_id: str, professional: str | None = None, amqp_uri: str | None = None,
                timeout: float = 60) -> dict:
    """:func:`gather` over a client of its own, as the partner of ``credential``."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from werkbrug_shared import actor, config

    with ClusterRpcProxy(config.nameko_config(AMQP_URI=amqp_uri or config.amqp_uri()),
                         context_data=actor.context(credential, professional), timeout=timeout) as rpc:
        return gather(rpc, candidate_id)


# --- the readable page ------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;
padding:0 1rem;color:#1b1b1b;line-height:1.4}
h1{font-size:1.6rem}h2{font-size:1.3rem;border-bottom:2px solid #154273;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1.05rem;margin-top:1.2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.4rem 0}
th,td{border:1px solid #c8c8c8;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#eef2f7}td pre{margin:0;white-space:pre-wrap;font-family:inherit}
.empty{color:#666;font-style:italic}.meta{color:#444}
"""


def _cell(value) -> str:
    if value is None:
        return '<span class="empty">-</span>'
    if isinstance(value, dict | list):
        return "<pre>" + html.escape(json.dumps(value, ensure_ascii=False, indent=1, default=str)) + "</pre>"
    return html.escape(str(value))


def _table(rows: list) -> str:
    if not rows:
        return '<p class="empty">nothing stored</p>'
    if not all(isinstance(r, dict) for r in rows):
        return "<ul>" + "".join(f"<li>{_cell(r)}</li>" for r in rows) + "</ul>"
    columns = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def to_html(document: dict) -> str:
    """The document as one page a person can read: a section per service, a table per kind of
    record. Self-contained (its style inline), no script, every value escaped."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="nl"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Inzage {html.escape(str(document.get('candidate_id')))}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Inzage: wat werkbrug over u bewaart</h1>",
        f'<p class="meta">Kandidaat {html.escape(str(document.get("candidate_id")))}, opgesteld '
        f'{html.escape(str(document.get("generated_at")))}</p>',
    ]
    for service, records in document.get("services", {}).items():
        parts.append(f"<h2>{html.escape(_title(service))}</h2>")
        if not records:
            parts.append('<p class="empty">nothing stored</p>')
        for kind, rows in records.items():
            parts.append(f"<h3>{html.escape(_title(kind))}</h3>")
            parts.append(_table(rows if isinstance(rows, list) else [rows]))
    if document.get("not_answered"):
        parts.append("<h2>Not answered</h2><ul>")
        parts += [f"<li>{html.escape(s)}: {html.escape(str(why))}</li>" for s, why in document["not_answered"].items()]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
