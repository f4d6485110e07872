"""How the gateway's HTTP entrypoint answers errors a call raises, and the HTTP rules every route is held to."""

import json

import pytest
import requests
from nameko.exceptions import UnknownService

from werkbrug_shared.entrypoints.http_entrypoint import Http, http
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationError
from werkbrug_shared.http_policy import API_VERSION, PROBLEM, invalid_params
from werkbrug_shared.rate_limits import REFUSED, RateLimits, TokenBuckets


def answer(exc):
    response = Http("GET", "/x").response_from_exception(exc)
    return response.status_code, json.loads(response.get_data()), response.headers


def test_a_service_not_running_is_unavailable_for_now():
    status, body, headers = answer(UnknownService("matching"))
    assert status == 503
    assert body["error"] == "ServiceUnavailable" and body["message"] == "not running: Unknown service `matching`"
    assert body["status"] == 503 and body["detail"] == body["message"]
    assert headers["Retry-After"] == "5" and headers["Content-Type"] == "application/problem+json"


def test_known_errors_keep_their_status_and_others_say_nothing_of_themselves():
    status, body, _ = answer(NotFound("no vacancy: v1"))
    assert (status, body["error"], body["detail"]) == (404, "NotFound", "no vacancy: v1")
    assert body["message"] == body["detail"]
    status, body, _ = answer(RuntimeError("secret detail"))
    assert (status, body["error"], body["detail"]) == (500, "InternalError", "internal error")
    assert "secret" not in json.dumps(body)


def test_a_body_nested_past_the_readers_limit_is_a_bad_request():
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from gateway.replies import json_body
    from werkbrug_shared.errors import ValidationError

    for data in ("[" * 100_000, "{" * 10, "[1, 2]", "\udfff"):
        request = Request(EnvironBuilder(method="POST", data=data.encode("utf-8", "surrogatepass")).get_environ())
        try:
            json_body(request)
        except ValidationError as exc:
            assert set(exc.errors) == {"body"}
        else:
            raise AssertionError(f"accepted {data[:10]!r}")


# --- the HTTP rules (werkbrug_shared.http_policy) on a running web server -----------------------

PORTAL = "https://portaal.example.nl"
DONE = []  # what the probe's create route did: a refused request must leave nothing here


class Probe:
    name = "http_probe"

    @http("GET", "/v1/things/<string:thing_id>")
    def thing(self, request, thing_id):
        errors = {"missing": NotFound("no thing: missing"), "theirs": Forbidden("not yours"),
                  "anonymous": Unauthorized("a credential, please"), "taken": Conflict("taken")}
        if thing_id in errors:
            raise errors[thing_id]
        return 200, {"Content-Type": "application/json"}, json.dumps({"id": thing_id})

    @http("POST", "/v1/things")
    def create(self, request):
        body = json.loads(request.get_data() or "{}")
        if "name" not in body:
            raise ValidationError.from_fields("thing", {"name": ["Missing data for required field."],
                                                        "address": {"city": ["Not a city."]}})
        DONE.append(body)
        return 201, {"Content-Type": "application/json"}, json.dumps(body)

    @http("GET", "/v1/aggregate")
    def aggregate(self, request):  # a route that says it may be cached
        return 200, {"Content-Type": "application/json", "Cache-Control": "public, max-age=60"}, "{}"

    @http("GET", "/page")
    def page(self, request):
        return 200, {"Content-Type": "text/html"}, "<p>hi</p>"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve(container_factory):
    """A running Probe service with the given config; returns a function to call it."""

    def start(**config):
        port = free_port()
        settings = {"WEB_SERVER_ADDRESS": f"127.0.0.1:{port}", "CORS_ORIGINS": PORTAL, "HTTP_MAX_BODY_BYTES": 1000,
                    "RATE_LIMIT": "off", **config}
        container = container_factory(Probe, settings)
        container.start()

        def call(method, path, **kwargs):
            return requests.request(method, f"http://127.0.0.1:{port}{path}", timeout=10, **kwargs)

        return call

    DONE.clear()
    return start


def test_errors_are_problem_details_with_werkbrugs_members_kept(serve):
    call = serve()
    refused = call("POST", "/v1/things", json={"colour": "red"})
    body = refused.json()
    assert refused.status_code == 400 and refused.headers["Content-Type"] == PROBLEM
    assert body["type"].startswith("https://") and body["title"] == "Bad Request" and body["status"] == 400
    assert "name" in body["detail"] and body["detail"] == body["message"]
    assert body["invalidParams"] == [{"name": "address.city", "reason": "Not a city."},
                                     {"name": "name", "reason": "Missing data for required field."}]
    assert body["error"] == "ValidationError" and body["errors"]["name"] == ["Missing data for required field."]
    for thing_id, status, error in (("missing", 404, "NotFound"), ("theirs", 403, "Forbidden"),
                                    ("anonymous", 401, "Unauthorized"), ("taken", 409, "Conflict")):
        answer = call("GET", f"/v1/things/{thing_id}")
        assert answer.status_code == status and answer.headers["Content-Type"] == PROBLEM
        assert answer.json()["status"] == status and answer.json()["error"] == error
    unrouted = call("GET", "/v1/nowhere")
    assert unrouted.status_code == 404 and unrouted.headers["Content-Type"] == PROBLEM
    wrong = call("DELETE", "/v1/things/a")
    assert wrong.status_code == 405 and wrong.json()["status"] == 405 and "GET" in wrong.headers["Allow"]


def test_bodies_too_large_or_not_json_and_accepts_without_json_are_refused_before_the_route(serve):
    call = serve()
    too_large = call("POST", "/v1/things", data=json.dumps({"name": "x" * 2000}),
                     headers={"Content-Type": "application/json"})
    assert too_large.status_code == 413 and too_large.json()["status"] == 413
    form = call("POST", "/v1/things", data={"name": "x"})
    assert form.status_code == 415 and form.headers["Content-Type"] == PROBLEM
    assert call("POST", "/v1/things", data="name=x", headers={"Content-Type": "text/plain"}).status_code == 415
    xml = call("GET", "/v1/things/a", headers={"Accept": "application/xml"})
    assert xml.status_code == 406 and xml.json()["status"] == 406
    assert DONE == []
    # JSON, JSON by another name, no type at all (read as JSON), and Accepts that include JSON all pass
    assert call("POST", "/v1/things", json={"name": "a"}).status_code == 201
    assert call("POST", "/v1/things", data='{"name": "b"}',
                headers={"Content-Type": "application/merge-patch+json"}).status_code == 201
    assert call("POST", "/v1/things", data=b'{"name": "c"}').status_code == 201
    for accept in ("application/json", "application/problem+json", "*/*", "application/*",
                   "text/html, application/json;q=0.5"):
        assert call("GET", "/v1/things/a", headers={"Accept": accept}).status_code == 200, accept
    # outside the API (the board's page) Accept is the route's business
    assert call("GET", "/page", headers={"Accept": "text/html"}).status_code == 200
    assert [d["name"] for d in DONE] == ["a", "b", "c"]


def test_every_response_carries_the_version_nosniff_and_no_store_unless_its_route_says(serve):
    call = serve()
    for answer in (call("GET", "/v1/things/a"), call("GET", "/v1/things/missing"), call("GET", "/nowhere"),
                   call("POST", "/v1/things", data="x", headers={"Content-Type": "text/plain"}), call("GET", "/page")):
        assert answer.headers["API-Version"] == API_VERSION
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"
    assert call("GET", "/v1/aggregate").headers["Cache-Control"] == "public, max-age=60"


def test_cors_grants_the_allowed_origins_only(serve):
    call = serve()
    allowed = call("GET", "/v1/things/a", headers={"Origin": PORTAL})
    assert allowed.headers["Access-Control-Allow-Origin"] == PORTAL and "Origin" in allowed.headers["Vary"]
    assert "API-Version" in allowed.headers["Access-Control-Expose-Headers"]
    other = call("GET", "/v1/things/a", headers={"Origin": "https://evil.example"})
    assert other.status_code == 200 and not [h for h in other.headers if h.lower().startswith("access-control-")]
    preflight = call("OPTIONS", "/v1/things", headers={
        "Origin": PORTAL, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == PORTAL
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    refused = call("OPTIONS", "/v1/things/a", headers={"Origin": "https://evil.example",
                                                       "Access-Control-Request-Method": "GET"})
    assert refused.status_code == 204 and not [h for h in refused.headers if h.lower().startswith("access-control-")]
    assert call("OPTIONS", "/v1/nowhere", headers={"Origin": PORTAL}).status_code == 404


def sample(organisation: str) -> float:
    return REFUSED.labels("http_probe", organisation)._value.get()


def test_over_its_rate_limit_an_organisation_waits_and_others_do_not(serve):
    # 2 at once, then one per 1,000 s: the third is refused whatever the hour or the machine's speed
    call = serve(RATE_LIMIT="0.001,2")
    enschede = {"Authorization": "Bearer dev-gemeente-enschede"}
    utrecht = {"Authorization": "Bearer dev-gemeente-utrecht"}
    before = sample("gemeente-enschede")
    assert [call("POST", "/v1/things", json={"name": n}, headers=enschede).status_code for n in "ab"] == [201, 201]
    refused = call("POST", "/v1/things", json={"name": "c"}, headers=enschede)
    assert refused.status_code == 429 and refused.headers["Content-Type"] == PROBLEM
    assert 1 <= int(refused.headers["Retry-After"]) <= 1000
    assert sample("gemeente-enschede") == before + 1
    assert call("GET", "/v1/things/a", headers=utrecht).status_code == 200  # its own bucket
    assert call("GET", "/v1/things/a").status_code == 200  # anonymous: the address's bucket
    assert [d["name"] for d in DONE] == ["a", "b"]


def test_token_buckets_refill_at_their_rate_up_to_the_burst():
    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0])
    assert [buckets.check("org", (2.0, 3.0)) for _ in range(3)] == [None, None, None]
    assert buckets.check("org", (2.0, 3.0)) == pytest.approx(0.5)
    now[0] = 0.5
    assert buckets.check("org", (2.0, 3.0)) is None
    now[0] = 100.0  # a long pause refills to the burst, not beyond
    assert [buckets.check("org", (2.0, 3.0)) for _ in range(4)][-1] == pytest.approx(0.5)


def test_each_replica_enforces_its_share_and_off_is_no_limit():
    limits = RateLimits("gateway", (10.0, 20.0), {"soweco": None, "gemeente-utrecht": (1.0, 4.0)}, replicas=2)
    assert limits.default == (5.0, 10.0) and limits.per_organisation["gemeente-utrecht"] == (0.5, 2.0)
    assert limits.per_organisation["soweco"] is None
    assert not RateLimits("gateway", None).active


def test_invalid_params_name_nested_fields_dotted():
    assert invalid_params({"modules": {0: {"code": ["bad", "worse"]}}, "name": "short"}) == [
        {"name": "modules.0.code", "reason": "bad worse"}, {"name": "name", "reason": "short"}]


def test_the_http_settings_read_as_documented(monkeypatch):
    from werkbrug_shared import config

    for name in ("WERKBRUG_RATE_LIMIT", "WERKBRUG_RATE_LIMIT_ORGANISATIONS", "WERKBRUG_CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    assert config.rate_limit() == (100.0, 200.0)
    assert config.rate_limit({"RATE_LIMIT": "5, 10"}) == (5.0, 10.0)
    assert config.rate_limit({"RATE_LIMIT": "off"}) is None
    monkeypatch.setenv("WERKBRUG_RATE_LIMIT", "off")
    assert config.rate_limit({"RATE_LIMIT": False}) is None  # YAML reads a bare off as false
    assert config.rate_limit_organisations({"RATE_LIMIT_ORGANISATIONS": "soweco=20,40; uwv-twente=off"}) == {
        "soweco": (20.0, 40.0), "uwv-twente": None}
    assert config.rate_limit_organisations({"RATE_LIMIT_ORGANISATIONS": {"soweco": "1,2"}}) == {"soweco": (1.0, 2.0)}
    assert config.cors_origins({"CORS_ORIGINS": "https://a.nl/, https://b.nl"}) == {"https://a.nl", "https://b.nl"}
    assert config.cors_origins() == frozenset()
    with pytest.raises(ValueError):
        config.rate_limit({"RATE_LIMIT": "10,0.5"})
