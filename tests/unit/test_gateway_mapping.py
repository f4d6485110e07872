"""Each gateway route calls the one RPC its declaration names (what the document says as
``x-werkbrug-rpc``), with the path, query and body in the right arguments; statuses as declared."""

from __future__ import annotations

import json

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.openapi import routes
from gateway.service import GatewayService
from werkbrug_shared.errors import ValidationError

SERVICES = ("candidates", "vacancies", "matching", "aftercare", "reporting")


class Recorder:
    def __init__(self, service: str, calls: list):
        self.service, self.calls = service, calls

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((f"{self.service}.{name}", args, kwargs))
            return {"version": 1}

        return call


def gateway() -> tuple[GatewayService, list]:
    calls: list = []
    service = GatewayService()
    for name in SERVICES:
        setattr(service, name, Recorder(name, calls))
    return service, calls


def request(method: str, path: str, body=None, query=None) -> Request:
    data = None if body is None else json.dumps(body)
    return Request(EnvironBuilder(method=method, path=path, data=data, query_string=query or {},
                                  content_type="application/json" if data else None).get_environ())


ROUTED = [(name, doc) for name, doc in routes(GatewayService) if doc.rpc]


@pytest.mark.parametrize(("name", "doc"), ROUTED, ids=[f"{d.method} {d.path}" for _, d in ROUTED])
def test_each_route_calls_the_operation_it_declares(name, doc):
    service, calls = gateway()
    ids = {param: f"{param}-1" for param in doc.path_params}
    path = doc.path.format(**ids)
    try:
        result = getattr(service, name)(request(doc.method, path, {} if doc.body is not None else None), **ids)
    except (KeyError, TypeError):  # a route shaping what the fake answered (a feed page): the call is what counts
        result = None
    assert [c[0] for c in calls] == [doc.rpc]
    if isinstance(result, tuple):  # gateway.replies.reply: the status the route declares
        assert result[0] == doc.status
    (_, args, kwargs) = calls[0]
    sent = json.dumps([args, kwargs])
    for value in ids.values():
        assert value in sent, f"{name}: the path's {value} does not reach {doc.rpc}"


def test_query_and_body_reach_the_rpc_as_its_arguments():
    service, calls = gateway()
    service.list_candidates(request("GET", "/v1/candidates", query={"region": "Twente", "limit": "20",
                                                                    "cursor": "abc", "other": "x"}))
    service.list_vacancies(request("GET", "/v1/vacancies", query={"is_leerwerkbaan": "true"}))
    service.reject(request("POST", "/v1/matches/m-1/rejection", {"reason": "other", "note": "n"}), "m-1")
    service.complete_module(request("POST", "/x", {"module_code": "vca"}), "c-1", "k-1")
    service.aftercare_escalations(request("GET", "/v1/aftercare/escalations", query={"open_only": "false"}))
    assert calls == [
        ("candidates.list", ({"region": "Twente"}, 20, "abc"), {}),
        ("vacancies.list", ({"is_leerwerkbaan": True}, 50, None), {}),
        ("matching.reject", ("m-1", "other", "n"), {}),
        ("candidates.complete_module", ("k-1", "c-1", "vca"), {}),
        ("aftercare.escalations", (None, False), {}),
    ]


@pytest.mark.parametrize(("call", "field"), [
    (lambda s: s.enrol(request("POST", "/x", {"candidate_id": "k", "status": "placed"}), "c-1"), "status"),
    (lambda s: s.list_vacancies(request("GET", "/v1/vacancies", query={"is_leerwerkbaan": "ja"})),
     "is_leerwerkbaan"),
    (lambda s: s.list_candidates(request("GET", "/v1/candidates", query={"limit": "-1"})), "limit"),
    (lambda s: s.list_candidates(request("GET", "/v1/candidates", query={"cursor": "x" * 501})), "cursor"),
])
def test_what_an_rpc_does_not_take_is_refused_naming_it(call, field):
    service, calls = gateway()
    with pytest.raises(ValidationError) as refused:
        call(service)
    assert field in refused.value.errors and calls == []
