"""werkbrug's entrypoints: nameko's, with the commit before the answer.

- ``rpc`` and ``http``: the worker's unit of work commits before the reply
  goes out; a failed commit is the caller's error. Validation, not-found and
  conflict errors are expected (logged as warnings, not tracebacks). An RPC
  that never opened its database is answered without a publisher confirm.
- ``event_handler(type)``: the reliable consumer. It validates the CloudEvent
  against the catalogue (an invalid one is dead-lettered at once), skips an
  event id this handler already processed, commits the handler's work
  together with the "processed" marker, and only then acks. A failing handler
  is retried after each configured back-off and then dead-lettered; nameko's
  default (ack and drop on error) is never used.

One module per concern:

- ``nameko_internals``: every part of nameko (2.14.1) the others lean on or
  override, and the rule they share: commit, then answer (``CommitFirst``).
- ``replies``: the lean reply path of an RPC (``RpcReplies``).
- ``rpc_entrypoint``: ``@rpc``, with the partner credential, its roles and recorded replies.
- ``http_entrypoint``: ``@http``, with the bearer credential and JSON errors.
- ``event_consumer``: batching, retry and dead-lettering (``ReliableEventHandler``).
- ``event_handlers``: ``@event_handler``, idempotent in the unit of work it names.
"""

from werkbrug_shared.entrypoints.event_consumer import DUPLICATE, PROCESSED, Delivery, ReliableEventHandler
from werkbrug_shared.entrypoints.event_handlers import event_handler
from werkbrug_shared.entrypoints.http_entrypoint import HTTP_STATUS, Http, PartnerWebServer, http
from werkbrug_shared.entrypoints.nameko_internals import CONNECTION_LOST, CommitFirst, broker_may_be_gone
from werkbrug_shared.entrypoints.replies import TRANSIENT, RpcReplies
from werkbrug_shared.entrypoints.rpc_entrypoint import Rpc, rpc

__all__ = [
    "CONNECTION_LOST", "DUPLICATE", "HTTP_STATUS", "PROCESSED", "TRANSIENT", "CommitFirst", "Delivery", "Http",
    "PartnerWebServer", "ReliableEventHandler", "Rpc", "RpcReplies", "broker_may_be_gone", "event_handler", "http",
    "rpc",
]
