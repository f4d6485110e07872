"""Configuration from the environment, one place for every service.

Each service has its own database: ``<SERVICE>_DATABASE_URL`` (for example
``CANDIDATES_DATABASE_URL=postgresql+psycopg://127.0.0.1/werkbrug_candidates``),
defaulting to a SQLite file under ``var/`` so ``make run`` needs nothing but
RabbitMQ. A key in the nameko container config wins over the environment,
which keeps in-process tests free of global state.
"""

from __future__ import annotations

import os
from pathlib import Path

SERVICES = ("candidates", "vacancies", "matching", "aftercare", "reporting", "gateway")
DATABASE_SERVICES = ("candidates", "vacancies", "matching", "aftercare", "reporting")
DEFAULT_METRICS_PORTS = {name: 9101 + i for i, name in enumerate(SERVICES)}
DEFAULT_AMQP_URI = "amqp://guest:guest@localhost:5672/"
# Five retries spread over about 13 minutes: long enough to ride out a
# database fail-over or a deploy, short enough that an operator sees a
# dead letter the same morning.
DEFAULT_RETRY_DELAYS_MS = (1_000, 5_000, 30_000, 120_000, 600_000)


def var_dir() -> Path:
    path = Path(os.environ.get("WERKBRUG_VAR_DIR", "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def amqp_uri(config: dict | None = None) -> str:
    if config and config.get("AMQP_URI"):
        return config["AMQP_URI"]
    return os.environ.get("WERKBRUG_AMQP_URI", DEFAULT_AMQP_URI)


def database_url(service: str, config: dict | None = None) -> str:
    key = f"{service.upper()}_DATABASE_URL"
    if config and config.get(key):
        return config[key]
    return os.environ.get(key) or f"sqlite:///{var_dir() / (service + '.db')}"


def metrics_port(service: str, config: dict | None = None) -> int:
    """Port of the service's Prometheus endpoint; 0 switches it off."""
    key = f"{service.upper()}_METRICS_PORT"
    if config and config.get(key) is not None:
        return int(config[key])
    return int(os.environ.get(key, DEFAULT_METRICS_PORTS.get(service, 0)))


def retry_delays_ms(config: dict | None = None) -> tuple[int, ...]:
    """Back-off before each retry of a failing event handler, in ms.

    The number of entries is the number of retries before dead-lettering.
    """
    raw = (config or {}).get("RETRY_DELAYS_MS") or os.environ.get("WERKBRUG_RETRY_DELAYS_MS")
    if not raw:
        return DEFAULT_RETRY_DELAYS_MS
    if isinstance(raw, (list, tuple)):
        return tuple(int(v) for v in raw)
    return tuple(int(v) for v in str(raw).split(",") if v.strip())


def _setting(config: dict | None, key: str, default):
    raw = (config or {}).get(key) or os.environ.get(f"WERKBRUG_{key}")
    return type(default)(raw) if raw not in (None, "") else default


def event_batch_size(config: dict | None = None) -> int:
    """Most events one consumer handles in one transaction."""
    return _setting(config, "EVENT_BATCH_SIZE", 200)


def events_per_message(config: dict | None = None) -> int:
    """Most events the outbox relay puts in one message (CloudEvents batch
    format); 1 sends every event as its own structured message."""
    return max(1, _setting(config, "EVENTS_PER_MESSAGE", 100))


def event_prefetch(config: dict | None = None) -> int:
    """Unacked messages per event consumer connection.

    A message may hold a hundred events (see :func:`events_per_message`), and
    each one taken is parsed before the next batch starts: 50 keeps a few
    thousand events ready without parking tens of thousands in memory.
    """
    return _setting(config, "EVENT_PREFETCH", 50)


QUEUE_TYPES = ("classic", "quorum")


def queue_type(config: dict | None = None) -> str:
    """What werkbrug's durable queues are: ``classic`` (one node: ``make run``, the tests)
    or ``quorum`` (replicated over a RabbitMQ cluster's nodes: what a cluster deployment
    sets). ``werkbrug migrate`` moves existing queues and their messages to this type."""
    value = str(_setting(config, "QUEUE_TYPE", "classic")).strip().lower()
    if value not in QUEUE_TYPES:
        raise ValueError(f"WERKBRUG_QUEUE_TYPE is {value!r}; it is one of {', '.join(QUEUE_TYPES)}")
    return value


def delivery_limit(config: dict | None = None) -> int:
    """Quorum queues only: deliveries of one message (each redelivery after a consumer
    died or handed it back counts) before the broker dead-letters it. A message that
    kills its consumer every time ends in the dead-letter queue instead of a crash loop."""
    return max(1, _setting(config, "DELIVERY_LIMIT", 20))


def outbox_retention_days() -> float:
    """How long published outbox rows are kept (for inspection) before they are deleted."""
    return _setting(None, "OUTBOX_RETENTION_DAYS", 7.0)


def rpc_reply_retention_hours() -> float:
    """How long a write RPC's reply is kept to answer a redelivered request."""
    return _setting(None, "RPC_REPLY_RETENTION_HOURS", 24.0)


def processed_retention_days() -> float:
    """How long a consumer remembers an event it handled, to skip it if it comes again.
    A broker redelivers within minutes; the margin is for dead letters replayed late
    (``werkbrug deadletters replay``): one handled before, then dead-lettered on a later
    delivery, and replayed after this long, would be handled a second time."""
    return _setting(None, "PROCESSED_RETENTION_DAYS", 90.0)


def outbox_poll_seconds(config: dict | None = None) -> float:
    """How often the outbox relay looks for rows nobody woke it for."""
    raw = (config or {}).get("OUTBOX_POLL_SECONDS") or os.environ.get("WERKBRUG_OUTBOX_POLL_SECONDS")
    return float(raw) if raw else 1.0


# --- HTTP rules of the gateway (werkbrug_shared/http_policy.py, rate_limits.py) ---------------


def cors_origins(config: dict | None = None) -> frozenset[str]:
    """Browser origins that may call the HTTP API (``https://portaal.example.nl``), comma-separated;
    empty: none (server-to-server partners need no CORS)."""
    raw = (config or {}).get("CORS_ORIGINS") or os.environ.get("WERKBRUG_CORS_ORIGINS") or ""
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    return frozenset(str(o).strip().rstrip("/") for o in items if str(o).strip())


def http_max_body_bytes(config: dict | None = None) -> int:
    """Largest request body the gateway reads; a larger one is refused (413) unread."""
    return max(1, _setting(config, "HTTP_MAX_BODY_BYTES", 1_048_576))


def _limit(raw) -> tuple[float, float] | None:
    text = str(raw).strip().lower()
    if text in ("off", "false", "none", "0", ""):  # YAML reads a bare off as false
        return None
    rate, _, burst = text.partition(",")
    rate = float(rate)
    burst = float(burst) if burst.strip() else max(1.0, rate)
    if rate <= 0 or burst < 1:
        raise ValueError(f"a rate limit is 'requests per second, burst' (burst at least 1), not {raw!r}")
    return rate, burst


def rate_limit(config: dict | None = None) -> tuple[float, float] | None:
    """Each organisation's token bucket at the gateway, ``"requests per second, burst"`` over all
    replicas (``off``: none); anonymous callers get one per client address."""
    return _limit((config or {}).get("RATE_LIMIT") or os.environ.get("WERKBRUG_RATE_LIMIT") or "100,200")


def rate_limit_organisations(config: dict | None = None) -> dict[str, tuple[float, float] | None]:
    """Per organisation id, its own bucket instead of the default: a mapping in config.yml,
    or ``WERKBRUG_RATE_LIMIT_ORGANISATIONS="org-a=20,40;org-b=off"``."""
    raw = (config or {}).get("RATE_LIMIT_ORGANISATIONS") or os.environ.get("WERKBRUG_RATE_LIMIT_ORGANISATIONS")
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raw = dict(part.split("=", 1) for part in str(raw).split(";") if part.strip())
    return {str(org).strip(): _limit(value) for org, value in raw.items()}


def gateway_replicas(config: dict | None = None) -> int:
    """How many gateway replicas share the rate limits: each enforces limit / replicas."""
    return max(1, _setting(config, "GATEWAY_REPLICAS", 1))


def nameko_config(**overrides) -> dict:
    """A nameko config dict for in-process containers and RPC clients."""
    import werkbrug_shared.events  # noqa: F401  (registers the cloudevents serializer named in ACCEPT)

    config = {
        "AMQP_URI": amqp_uri(),
        "WEB_SERVER_ADDRESS": os.environ.get("WERKBRUG_HTTP_ADDRESS", "0.0.0.0:8000"),
        "ACCEPT": ["json", "cloudevents", "cloudevents-batch"],
        "max_workers": int(os.environ.get("WERKBRUG_MAX_WORKERS", "10")),
    }
    config.update(overrides)
    return config
