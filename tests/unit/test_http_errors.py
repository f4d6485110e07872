"""How the gateway's HTTP entrypoint answers errors a call raises."""

import json

from nameko.exceptions import UnknownService

from werkbrug_shared.entrypoints import Http
from werkbrug_shared.errors import NotFound


def answer(exc):
    response = Http("GET", "/x").response_from_exception(exc)
    return response.status_code, json.loads(response.get_data()), response.headers


def test_a_service_not_running_is_unavailable_for_now():
    status, body, headers = answer(UnknownService("matching"))
    assert status == 503
    assert body == {"error": "ServiceUnavailable", "message": "not running: Unknown service `matching`"}
    assert headers["Retry-After"] == "5"


def test_known_errors_keep_their_status_and_others_say_nothing_of_themselves():
    assert answer(NotFound("no vacancy: v1"))[:2] == (404, {"error": "NotFound", "message": "no vacancy: v1"})
    status, body, _ = answer(RuntimeError("secret detail"))
    assert (status, body) == (500, {"error": "InternalError", "message": "internal error"})


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
