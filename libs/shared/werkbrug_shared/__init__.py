"""werkbrug's shared plumbing, written once and used by every service.

psycopg 3's default wait function blocks the eventlet hub; the select-based
one cooperates with green threads. psycopg reads the choice at import time,
so it is set here, before any service module can import psycopg.
"""

import os

os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")

# JSON on the wire through orjson for every process that talks RPC (wire_json.py)
from werkbrug_shared import wire_json  # noqa: E402, F401
