"""The parts of nameko werkbrug's entrypoints lean on or override, in one place.

Written against **nameko 2.14.1** (``NAMEKO_VERSION``; a unit test fails when
another version is installed). These are nameko's internals, not its
documented API: before moving to another nameko, read what each of the
following does there and check its override still fits.

- ``Entrypoint.handle_result`` of ``rpc.Rpc`` and ``web.handlers.HttpRequestHandler``
  answers with the worker's result, and an exception escaping it kills the
  container. :class:`CommitFirst` (here) commits the worker's unit of work
  first and lets nothing escape: what fails on the way is the caller's error.
- ``rpc.Responder.send_response`` (from ``RpcConsumer.handle_result``)
  serialises a result twice and publishes each reply through a new confirmed
  ``Publisher``. :func:`encode_reply` (here) serialises once;
  ``replies.RpcReplies.handle_result`` publishes, confirmed and persistent only
  when the call may have written.
- ``rpc.RpcConsumer.setup`` and its ``queue_consumer``: ``replies.RpcReplies``
  declares the queue as ``topology.rpc_queue`` (quorum when asked) and consumes
  through a watched queue consumer (``consuming.py``).
- ``Entrypoint.check_signature`` runs ``inspect.getcallargs`` on every call;
  :func:`signature_of` and :func:`check_call` (here) read the signature once.
- ``rpc.Rpc.handle_message`` reads ``body['args']`` and spawns the worker;
  ``rpc_entrypoint.Rpc.handle_message`` checks the request's shape, credential
  and redelivery first, then calls nameko's.
- ``web.server.WebServer.context_data_from_headers`` returns ``{}``;
  ``http_entrypoint.PartnerWebServer`` carries the bearer credential.
- ``HttpRequestHandler.response_from_exception`` answers plain text, 400 or
  500; ``http_entrypoint.Http`` answers werkbrug's errors as problem details.
- ``web.server.WsgiApp.__call__`` matches the route and calls its provider's
  ``handle_request`` (werkzeug's HTML for an unknown path or method);
  ``http_entrypoint.PolicyWsgiApp`` does the same within werkbrug's HTTP rules
  (``WebServer.get_wsgi_app`` is nameko's documented hook for it).
- ``messaging.Consumer`` (``setup``, ``handle_message``, ``handle_result``,
  ``stop``) acks or requeues a whole message per worker;
  ``event_consumer.ReliableEventHandler`` batches deliveries into one worker
  and retries or dead-letters each event on its own, calling
  ``container.spawn_worker(..., handle_result=...)`` as nameko's Consumer does.

The package's other modules import nameko through this one only (the queue
consumer beneath them, ``werkbrug_shared/consuming.py``, notes its own).
"""

from __future__ import annotations

import inspect
import logging
import sys
from contextlib import contextmanager
from importlib.metadata import version

import kombu.exceptions
import kombu.serialization
from amqp.exceptions import AMQPError
from nameko.amqp.publish import get_producer
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_RETRY_POLICY,
    DEFAULT_TRANSPORT_OPTIONS,
    LOGIN_METHOD_CONFIG_KEY,
    PERSISTENT,
)
from nameko.exceptions import (
    BadRequest,
    ConfigurationError,
    ContainerBeingKilled,
    IncorrectSignature,
    UnknownService,
    UnserializableValueError,
    serialize,
)
from nameko.messaging import Consumer
from nameko.rpc import Rpc as NamekoRpc
from nameko.rpc import RpcConsumer, get_rpc_exchange
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request

from werkbrug_shared.db import finish_unit_of_work
from werkbrug_shared.faults import crash_point

__all__ = [
    "AMQP_SSL_CONFIG_KEY", "AMQP_URI_CONFIG_KEY", "DEFAULT_RETRY_POLICY", "DEFAULT_TRANSPORT_OPTIONS",
    "LOGIN_METHOD_CONFIG_KEY", "PERSISTENT", "CONNECTION_LOST", "NAMEKO_VERSION", "BadRequest", "CommitFirst",
    "ConfigurationError", "Consumer", "ContainerBeingKilled", "HTTPException", "HttpRequestHandler", "NamekoRpc",
    "Request", "RpcConsumer", "UnknownService", "WebServer", "WsgiApp", "broker_may_be_gone", "check_call",
    "encode_reply",
    "get_producer", "get_rpc_exchange", "signature_of",
]

log = logging.getLogger(__name__)

NAMEKO_VERSION = "2.14.1"
if version("nameko") != NAMEKO_VERSION:
    log.warning("werkbrug's entrypoints were written against nameko %s, not %s: "
                "see werkbrug_shared/entrypoints/nameko_internals.py", NAMEKO_VERSION, version("nameko"))

# What a connection lost mid-way raises: socket errors, py-amqp's own, and
# kombu's re-raised as its OperationalError (a publish retried on a refused connection)
CONNECTION_LOST = (OSError, AMQPError, kombu.exceptions.OperationalError)


@contextmanager
def broker_may_be_gone(what: str):
    """Acks, requeues and replies on a connection that may just have died.

    When the broker restarts, the delivery is redelivered anyway and the
    processed-event and recorded-reply checks make that harmless. Letting the
    error escape instead would make nameko kill the whole service.
    """
    try:
        yield
    except CONNECTION_LOST as exc:
        log.warning("could not %s, the broker connection is gone (%s); it will be redelivered", what, exc)


class CommitFirst:
    """Commit, then answer; whatever fails on the way is the caller's error.

    Mixed in before nameko's ``Rpc`` or ``HttpRequestHandler``. nameko treats an
    exception escaping ``handle_result`` as fatal to the whole container, so
    nothing may escape here: a failure while recording the reply or committing
    (a data error, an integrity error, a serialisation failure, a deadlock)
    rolls back and becomes the error reply, and a reply that cannot be sent is
    logged, never raised.
    """

    def handle_result(self, message, worker_ctx, result, exc_info):
        if exc_info is None:
            try:
                self.before_commit(message, worker_ctx, result)
            except Exception:
                exc_info = sys.exc_info()
        exc_info = finish_unit_of_work(worker_ctx, exc_info)
        if exc_info is not None:
            result = None
        crash_point("rpc.after_commit")
        try:
            with broker_may_be_gone("reply"):
                return self.answer(message, worker_ctx, result, exc_info)
        except Exception:
            log.exception("could not answer %s", worker_ctx.entrypoint.method_name)
        return result, exc_info

    def before_commit(self, message, worker_ctx, result):
        """Work that commits with the worker's own (recording an RPC's reply)."""

    def answer(self, message, worker_ctx, result, exc_info):
        return super().handle_result(message, worker_ctx, result, exc_info)


def encode_reply(message, result, exc_info):
    """An RPC reply as nameko's Responder encodes it: ``{"result", "error"}`` in the
    request's own serializer (JSON when its content type is not a known one), an
    unserialisable result becoming the caller's ``UnserializableValueError``.
    Serialised once, where nameko serialises it twice (once to check it can).

    Returns (content_type, content_encoding, body, result, exc_info)."""
    serializer = kombu.serialization.registry.type_to_name.get(message.properties.get("content_type"), "json")
    error = None if exc_info is None else serialize(exc_info[1])
    try:
        encoded = kombu.serialization.dumps({"result": result, "error": error}, serializer)
    except Exception:
        # as nameko: an unserialisable result is the caller's error, not the container's death
        exc_info = sys.exc_info()
        encoded = kombu.serialization.dumps(
            {"result": None, "error": serialize(UnserializableValueError(result))}, serializer)
        result = None
    return (*encoded, result, exc_info)


def signature_of(entrypoint) -> inspect.Signature:
    """The decorated method's signature, read once (nameko reads it on every call)."""
    return inspect.signature(getattr(entrypoint.container.service_cls, entrypoint.method_name))


def check_call(signature: inspect.Signature, args, kwargs) -> None:
    """nameko's ``check_signature``: the call's arguments must fit the method."""
    try:
        signature.bind(None, *args, **kwargs)
    except TypeError as exc:
        raise IncorrectSignature(str(exc)) from None
