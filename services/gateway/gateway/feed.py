"""The partner change feed and its webhooks over HTTP (reporting's ``feed``, ``feed_snapshot`` and
webhook operations), and reporting's part of a person's inzage.

``GET /v1/feed?after=<position>&types=...`` answers CloudEvents in the JSON batch format
(``application/cloudevents-batch+json``), or one event per line on ``Accept: application/x-ndjson``;
each event carries its ``position``. The ``ETag`` is the position to ask after next (also in
``Link: <...>; rel="next"``): sent back as ``If-None-Match`` (without ``after``) it is the
position, and when nothing new is visible after it the answer is ``304 Not Modified`` (with
the ETag to use next, which may have moved past events the caller does not see).
"""

from __future__ import annotations

import json

from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from gateway.replies import no_content, reply
from gateway.routes import Limit, body_fields, query_limit, route
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.http_policy import problem

TAG = "reporting"  # a "feed" tag needs a line in gateway.openapi.TAGS (the lead's)
BATCH, NDJSON = "application/cloudevents-batch+json", "application/x-ndjson"
MAX_HTTP_LIMIT = 200
WEBHOOK_ID = "/v1/webhooks/<string:subscription_id>"

EVENT = {"type": "object", "description": "a CloudEvent (structured) with its `position`",
         "properties": {"specversion": {"type": "string"}, "id": {"type": "string"},
                        "source": {"type": "string"}, "type": {"type": "string"},
                        "subject": {"type": "string"}, "time": {"type": "string", "format": "date-time"},
                        "datacontenttype": {"type": "string"}, "position": {"type": "integer"},
                        "data": {"type": "object"}},
         "required": ["specversion", "id", "source", "type", "position", "data"]}
WEBHOOK = {"type": "object", "properties": {
    "id": {"type": "string"}, "url": {"type": "string"}, "types": {"type": "array", "items": {"type": "string"}},
    "cursor": {"type": "integer"}, "delivered": {"type": "integer"}, "pending": {"type": "integer"},
    "dead_letters": {"type": "integer"}, "secret": {"type": "string", "description": "shown once, at subscribe"}},
    "required": ["id", "url", "types", "cursor"]}
HEADER = {"schema": {"type": "string"}}


class FeedQuery(Schema):
    after = fields.Integer(validate=validate.Range(min=0), metadata={
        "description": "the last position seen (0: from the start; every position stays replayable)"})
    types = fields.String(validate=validate.Length(max=2000), metadata={
        "description": "comma-separated event type names to keep (nl.werkbrug.vacancy.opened.v1, ...)"})


class Subscription(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    types = fields.List(fields.String(validate=validate.Length(max=120)), validate=validate.Length(max=20))
    after = fields.Integer(allow_none=True, validate=validate.Range(min=0))


class Replay(Schema):
    after = fields.Integer(required=True, validate=validate.Range(min=0))


def _position(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    raw = raw.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    raw = raw.strip('"')
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ValidationError.from_fields("query", {name: ["a position: a whole number"]})
    return int(raw)


def feed_response(page: dict, after: int, ndjson: bool) -> Response:
    nxt = page["next"]
    headers = {"ETag": f'"{nxt}"', "Cache-Control": "no-cache", "Link": f'</v1/feed?after={nxt}>; rel="next"'}
    if not page["events"]:
        return Response(status=304, headers=headers)
    if ndjson:
        body = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in page["events"])
        return Response(body, status=200, headers=headers, content_type=NDJSON)
    return Response(json.dumps(page["events"]), status=200, headers=headers, content_type=BATCH)


class FeedRoutes:
    """Mixed into the gateway service, which provides ``self.reporting``."""

    @route("GET", "/v1/feed", tag=TAG, rpc="reporting.feed", query=FeedQuery, limit=Limit(100, MAX_HTTP_LIMIT),
           media="*/*", summary="The partner change feed after a position",
           description="What the calling organisation may see: published vacancies opened, updated, filled and "
                       "closed (a closed one, or one no longer public, as `{\"vacancy_id\"}` alone), its "
                       "candidates' status changes, its placements and their aftercare outcomes; in position "
                       "order. `ETag` is the position to ask after next; `If-None-Match` with it (and no "
                       "`after`) answers 304 when nothing new is visible.",
           extra={"parameters": [{"in": "header", "name": "If-None-Match", "required": False,
                                  "schema": {"type": "string"}}],
                  "responses": {
                      "200": {"description": "events after the position",
                              "headers": {"ETag": HEADER, "Link": HEADER},
                              "content": {BATCH: {"schema": {"type": "array", "items": EVENT}},
                                          NDJSON: {"schema": {"type": "string"}}}},
                      "304": {"description": "nothing new after the position", "headers": {"ETag": HEADER}}}})
    def feed(self, request):
        accept = request.headers.get("Accept")
        kind = request.accept_mimetypes.best_match((BATCH, NDJSON, "application/json")) if accept else BATCH
        if kind is None:
            return problem(406, f"this route answers {BATCH} or {NDJSON}")
        after = _position(request.args.get("after"), "after")
        if after is None:
            after = _position(request.headers.get("If-None-Match"), "If-None-Match") or 0
        limit = query_limit(request, 100)
        if limit > MAX_HTTP_LIMIT:
            raise ValidationError.from_fields("query", {"limit": [f"from 1 to {MAX_HTTP_LIMIT}"]})
        types = request.args.get("types")
        page = self.reporting.feed(after=after, types=types.split(",") if types is not None else None, limit=limit)
        return feed_response(page, after, kind == NDJSON)

    @route("GET", "/v1/feed/snapshot", tag=TAG, rpc="reporting.feed_snapshot",
           reply={"type": "object", "properties": {"position": {"type": "integer"},
                                                   "vacancies": {"type": "array", "items": EVENT}},
                  "required": ["position", "vacancies"]},
           summary="The published vacancies now, and the position the feed carries on from")
    def feed_snapshot(self, request):
        return reply(200, self.reporting.feed_snapshot())

    @route("POST", "/v1/webhooks", tag=TAG, rpc="reporting.subscribe_webhook", status=201, body=Subscription,
           reply=WEBHOOK, summary="Subscribe a URL to the feed's events",
           description="Each event is POSTed as a structured CloudEvent (`application/cloudevents+json`), "
                       "signed: `Webhook-Signature: sha256=<hex>` is HMAC-SHA256 with the `secret` (shown only "
                       "in this reply) over `<Webhook-Timestamp>.<body>`; retried with back-off, dead-lettered "
                       "after a bound. Only http(s) URLs on public addresses.")
    def subscribe_webhook(self, request):
        body = body_fields(request, ("url", "types", "after"), "webhook")
        return reply(201, self.reporting.subscribe_webhook(**body))

    @route("GET", "/v1/webhooks", tag=TAG, rpc="reporting.list_webhooks",
           reply={"type": "array", "items": WEBHOOK}, summary="The calling organisation's webhooks")
    def list_webhooks(self, request):
        return reply(200, self.reporting.list_webhooks())

    @route("DELETE", WEBHOOK_ID, tag=TAG, rpc="reporting.unsubscribe_webhook", status=204,
           summary="Stop a webhook")
    def unsubscribe_webhook(self, request, subscription_id):
        self.reporting.unsubscribe_webhook(subscription_id)
        return no_content()

    @route("GET", WEBHOOK_ID + "/dead-letters", tag=TAG, rpc="reporting.webhook_dead_letters",
           limit=Limit(100, MAX_HTTP_LIMIT),
           reply={"type": "array", "items": {"type": "object", "properties": {
               "position": {"type": "integer"}, "event_id": {"type": "string"}, "status": {"type": "string"},
               "attempts": {"type": "integer"}}}},
           summary="A webhook's deliveries given up after the bound of attempts")
    def webhook_dead_letters(self, request, subscription_id):
        limit = query_limit(request, 100)
        if limit > MAX_HTTP_LIMIT:
            raise ValidationError.from_fields("query", {"limit": [f"from 1 to {MAX_HTTP_LIMIT}"]})
        return reply(200, self.reporting.webhook_dead_letters(subscription_id, limit=limit))

    @route("POST", WEBHOOK_ID + "/replay", tag=TAG, rpc="reporting.replay_webhook", body=Replay,
           reply={"type": "object", "properties": {"cursor": {"type": "integer"},
                                                   "dead_letters_replayed": {"type": "integer"}}},
           summary="Deliver again every event after a position, dead letters among them")
    def replay_webhook(self, request, subscription_id):
        body = body_fields(request, ("after",), "replay")
        return reply(200, self.reporting.replay_webhook(subscription_id, body.get("after")))

    @route("GET", "/v1/candidates/<string:candidate_id>/inzage/reporting", tag=TAG, rpc="reporting.inzage",
           reply={"type": "object", "properties": {"service": {"type": "string"}, "records": {"type": "object"}}},
           summary="What reporting holds on one person (the stored events naming them)",
           description="For the organisation that registered the candidate only.")
    def reporting_inzage(self, request, candidate_id):
        return reply(200, self.reporting.inzage(candidate_id))
