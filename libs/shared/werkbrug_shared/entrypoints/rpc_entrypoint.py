"""``@rpc``: RPC with authentication and recorded replies.

Every call carries a known partner credential (``werkbrug.credential``) with one
of the operation's roles (``roles=``), unless ``public``; the worker's unit of
work commits before the reply goes out (``nameko_internals.CommitFirst``); a call that wrote records its correlation
id and reply in the same transaction, so a request RabbitMQ redelivers after a
crash is answered from that record instead of being run twice. The reply
itself goes out by ``replies.RpcReplies``.
"""

from __future__ import annotations

import json
import logging
import sys

from sqlalchemy.exc import IntegrityError

from werkbrug_shared import roles as known_roles
from werkbrug_shared.actor import CREDENTIAL, partner_for
from werkbrug_shared.db import databases_of
from werkbrug_shared.entrypoints.nameko_internals import (
    CommitFirst,
    NamekoRpc,
    broker_may_be_gone,
    check_call,
    signature_of,
)
from werkbrug_shared.entrypoints.replies import RpcReplies
from werkbrug_shared.errors import EXPECTED, Conflict, Forbidden, Unauthorized, ValidationError
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.validation import bad_arguments

log = logging.getLogger(__name__)


class Rpc(CommitFirst, NamekoRpc):
    """nameko's ``@rpc``, committing before the reply, and safe to redeliver;
    every call carries a known partner credential, unless ``public``.

    RabbitMQ redelivers a request whose ack was lost, e.g. when the service
    was killed after committing. A call that wrote anything records its
    correlation id and reply in the same transaction; a redelivered request
    that finds that record gets the recorded reply and is not run twice.

    Every call is one organisation's (``werkbrug.credential``): a call without a
    credential, or with an unknown, revoked or expired one, is refused before any work is done.
    ``@rpc(public=True)``: aggregates anyone may read (the board), which take none.

    ``@rpc(roles=(JOBHUNTER, ...))`` (``werkbrug_shared.roles``): who may call it; a credential
    with none of them is Forbidden, before any work is done. A non-public operation without
    roles does not start (deny by default), nor does a public one with roles.
    """

    rpc_consumer = RpcReplies()

    def __init__(self, expected_exceptions=(), public: bool = False, roles=(), **kwargs):
        self.public = public
        self.roles = frozenset([roles] if isinstance(roles, str) else roles)
        super().__init__(expected_exceptions=tuple(expected_exceptions) + EXPECTED, **kwargs)

    @property
    def consumer_name(self) -> str:
        return f"rpc:{self.container.service_name}.{self.method_name}"

    def setup(self):
        check_roles(f"{self.container.service_name}.{self.method_name}", self.public, self.roles)
        super().setup()
        self._signature = signature_of(self)

    def check_signature(self, args, kwargs):
        check_call(self._signature, args, kwargs)
        # every plain argument once here, as schemas do for payloads: no NUL or unpaired surrogate
        bad_arguments(self._signature, args, kwargs)

    def handle_message(self, body, message):
        try:
            if not (isinstance(body, dict) and isinstance(body.get("args"), list | tuple)
                    and isinstance(body.get("kwargs"), dict)):
                raise ValidationError("a request is an object with a list 'args' and an object 'kwargs'",
                                      {"_schema": ["not a request"]})
            partner = partner_for(self.unpack_message_headers(message).get(CREDENTIAL))
            if not self.public:
                if partner is None:
                    raise Unauthorized("this operation needs a partner credential (werkbrug.credential)")
                if not partner.roles & self.roles:
                    raise Forbidden(f"{self.container.service_name}.{self.method_name} is for the roles "
                                    f"{', '.join(sorted(self.roles))}; this credential has "
                                    f"{', '.join(sorted(partner.roles)) or 'none'}")
            if message.delivery_info.get("redelivered") and self._answered_again(message):
                return
        except (ValidationError, Unauthorized, Forbidden, Conflict):
            # refused before any work is done; the caller hears why
            self._refuse(message, sys.exc_info())
            return
        except Exception:
            log.exception("could not look up a redelivered request for %s", self.consumer_name)
            self._refuse(message, sys.exc_info())
            return
        super().handle_message(body, message)

    def _refuse(self, message, exc_info):
        with broker_may_be_gone("refuse a call"):
            self.rpc_consumer.handle_result(message, None, exc_info)

    def _answered_again(self, message) -> bool:
        """A request RabbitMQ delivers again: a service (this or another instance) stopped
        or lost its connection before answering it, maybe while it was in work.

        If it committed, its recorded reply answers it, and it is not run twice.
        If not, it runs again, under a marker of its own transaction that is removed once
        it is answered. A delivery that finds the marker still there knows the service died
        while running it after a redelivery, so a request that kills the service stops
        there (Conflict) rather than crash-loop it; one that was merely prefetched, or
        whose answer's ack was lost, never leaves a marker behind.
        """
        correlation_id = message.properties.get("correlation_id")
        databases = databases_of(self.container)
        if not correlation_id or not databases:
            return False
        for db in databases:
            found, recorded = db.recorded_result(self.consumer_name, correlation_id)
            if found:
                log.warning("redelivered request for %s answered from its record", self.consumer_name)
                result = json.loads(recorded) if recorded is not None else None
                with broker_may_be_gone("answer a redelivered call"):
                    self.rpc_consumer.handle_result(message, result, None)
                return True
        if not _record_once(databases[0], self._running_again, correlation_id):
            log.error("a request for %s was delivered again after the service died running it twice; "
                      "refusing it", self.consumer_name)
            raise Conflict("this request stopped the service twice and is refused; nothing was changed")
        return False

    @property
    def _running_again(self) -> str:
        return f"{self.consumer_name}#running-again"

    def handle_result(self, message, worker_ctx, result, exc_info):
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        finally:
            if message.delivery_info.get("redelivered") and message.properties.get("correlation_id"):
                # it ran to its answer: it did not kill the service (see _answered_again)
                for db in databases_of(self.container)[:1]:
                    try:
                        _forget(db, self._running_again, message.properties["correlation_id"])
                    except Exception:
                        log.warning("could not clear the running-again marker of %s", self.consumer_name,
                                    exc_info=True)

    def before_commit(self, message, worker_ctx, result):
        correlation_id = message.properties.get("correlation_id")
        if correlation_id:
            for db in databases_of(self.container):
                uow = db.unit_of_work(worker_ctx)
                if uow is not None and uow.wrote:
                    uow.mark_processed(self.consumer_name, correlation_id, json.dumps(result, default=str))

    def answer(self, message, worker_ctx, result, exc_info):
        # a call that never opened its database wrote nothing: its reply needs no confirm
        units = [db.unit_of_work(worker_ctx) for db in databases_of(self.container)]
        untouched = bool(units) and all(uow is not None and not uow.touched for uow in units)
        return self.rpc_consumer.handle_result(message, result, exc_info, confirm=not untouched)


rpc = Rpc.decorator


def check_roles(operation: str, public: bool, roles: frozenset[str]) -> None:
    """An operation's declaration: a public one takes no roles, any other at least one known role."""
    if public and roles:
        raise TypeError(f"{operation}: a public operation takes no roles")
    if not public and not roles:
        raise TypeError(f"{operation}: @rpc without roles: name who may call it, @rpc(roles=(...)) "
                        "(werkbrug_shared.roles), or @rpc(public=True) for what anyone may read")
    unknown = roles - known_roles.ALL
    if unknown:
        raise TypeError(f"{operation}: unknown roles {', '.join(sorted(unknown))}")


def _forget(db, consumer: str, key: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(db.processed.delete().where(db.processed.c.consumer == consumer,
                                                  db.processed.c.event_id == key))


def _record_once(db, consumer: str, key: str) -> bool:
    """Note ``key`` for ``consumer`` in a transaction of its own; False if it was noted before."""
    try:
        with db.engine.begin() as conn:
            conn.execute(db.processed.insert().values(consumer=consumer, event_id=key, processed_at=utcnow()))
        return True
    except IntegrityError:
        return False

