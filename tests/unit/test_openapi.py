"""The gateway's OpenAPI document: every route in it, nothing in it that is not routed, valid
OpenAPI 3, every partner operation behind some route, and served as built once."""

from __future__ import annotations

import importlib
import inspect
import json
import re

from openapi_spec_validator import validate
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway import docs, openapi
from gateway.service import GatewayService
from werkbrug_shared import config
from werkbrug_shared.entrypoints import Http, Rpc

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def entrypoints(cls, kind) -> list:
    return [ep for _, member in inspect.getmembers(cls) for ep in getattr(member, "nameko_entrypoints", ())
            if isinstance(ep, kind)]


def routed() -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every @http entrypoint of the gateway."""
    return {(ep.method.lower(), re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", ep.url))
            for ep in entrypoints(GatewayService, Http)}


def described(document: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item if method in METHODS}


def rpc_operations() -> set[str]:
    found = set()
    for service in config.SERVICES:
        if service == "gateway":
            continue
        module = importlib.import_module(f"{service}.service")
        (cls,) = [c for _, c in inspect.getmembers(module, inspect.isclass)
                  if getattr(c, "name", None) == service and c.__module__ == module.__name__]
        found |= {f"{service}.{name}" for name, member in inspect.getmembers(cls)
                  if any(isinstance(ep, Rpc) for ep in getattr(member, "nameko_entrypoints", ()))}
    return found


def test_every_route_is_described_and_everything_described_is_routed():
    document = openapi.build(GatewayService)
    routes, paths = routed(), described(document)
    assert sorted(routes - paths) == [], "routes the document leaves out"
    assert sorted(paths - routes) == [], "described, but not routed"
    assert len(routes) == len(entrypoints(GatewayService, Http)), "a method and path routed twice"


def test_the_document_is_valid_openapi_3():
    document = openapi.build(GatewayService)
    assert document["openapi"].startswith("3.")
    validate(document)


def test_every_partner_operation_has_a_route():
    document = openapi.build(GatewayService)
    behind = {op["x-werkbrug-rpc"] for item in document["paths"].values() for method, op in item.items()
              if method in METHODS and "x-werkbrug-rpc" in op}
    operations = rpc_operations()
    assert len(operations) >= 59
    assert sorted(operations - behind) == [], "RPC operations no route calls"
    assert sorted(behind - operations) == [], "routes naming operations that do not exist"


def test_operations_are_described_once_each_with_tags_errors_and_security():
    document = openapi.build(GatewayService)
    ids = [op["operationId"] for item in document["paths"].values() for m, op in item.items() if m in METHODS]
    assert len(ids) == len(set(ids))
    tags = {t["name"] for t in document["tags"]}
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]["bearer"][
            "description"]}
    assert document["security"] == [{"bearer": []}]
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            assert set(op["tags"]) <= tags, where
            codes = set(op["responses"])
            assert any(c.startswith("2") for c in codes), where
            for code in codes:
                # every error a problem, but the web server's own 414 (no body) and /health's 503 (its status)
                if code[0] in "45" and code != "414" and (path, code) != ("/health", "503"):
                    content = op["responses"][code].get("content", {})
                    assert list(content) == ["application/problem+json"], (where, code)
            if path.startswith("/v1/"):
                assert {"400", "429", "500"} <= codes, where
                if op.get("security") != []:
                    assert {"401", "403"} <= codes, where
            if "{" in path:
                assert "404" in codes, where
            if op.get("requestBody"):
                assert method in ("post", "put", "patch"), where


def test_no_personal_field_is_a_path_or_query_parameter():
    document = openapi.build(GatewayService)
    personal = {"bsn", "given_name", "family_name", "birth_date", "email", "phone", "address", "postcode", "name",
                "note", "text", "condition_notes"}
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            names = {p["name"] for p in op["parameters"] if "name" in p}
            assert not names & personal, f"{method.upper()} {path}: {names & personal}"


def test_lists_take_a_bounded_limit_and_paged_lists_a_cursor():
    document = openapi.build(GatewayService)
    for path, item in document["paths"].items():
        for op in item.values():
            params = {p["name"]: p for p in op.get("parameters", []) if "name" in p}
            if "limit" in params:
                schema = params["limit"]["schema"]
                assert schema["minimum"] == 1 and schema["maximum"] <= 200, path
    listed = document["paths"]["/v1/candidates"]["get"]["parameters"]
    assert {"limit", "cursor"} <= {p.get("name") for p in listed}


def test_bodies_are_the_services_schemas():
    """The body of POST /v1/candidates is candidates' own schema: required fields, no unknown ones."""
    document = openapi.build(GatewayService)
    schemas = document["components"]["schemas"]
    body = document["paths"]["/v1/candidates"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    candidate = schemas[body["$ref"].rsplit("/", 1)[1]]
    assert {"given_name", "family_name", "postcode", "region", "target_groups", "hours_per_week"} <= set(
        candidate["required"])
    assert candidate["additionalProperties"] is False
    update = document["paths"]["/v1/candidates/{candidate_id}"]["patch"]["requestBody"]["content"][
        "application/json"]["schema"]
    changes = schemas[update["$ref"].rsplit("/", 1)[1]]
    assert "required" not in changes and "bsn" not in changes["properties"]
    assert "\\Z" not in json.dumps(document), "patterns in ECMA 262's form"


def test_served_once_per_process_as_json():
    gateway = GatewayService()
    request = Request(EnvironBuilder(path="/v1/openapi.json").get_environ())
    first = gateway.openapi_document(request)
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/json"
    assert json.loads(first.get_data())["info"]["title"] == openapi.TITLE
    assert gateway.openapi_document(request).get_data() is first.get_data() or \
        docs.document_bytes(GatewayService) is docs.document_bytes(GatewayService)
    assert openapi.document(GatewayService) is openapi.document(GatewayService)


def test_the_roles_described_are_the_ones_each_operation_declares():
    """Read from the services' source (the gateway does not import them); the same as their entrypoints say."""
    for service in config.SERVICES:
        if service == "gateway":
            continue
        module = importlib.import_module(f"{service}.service")
        (cls,) = [c for _, c in inspect.getmembers(module, inspect.isclass)
                  if getattr(c, "name", None) == service and c.__module__ == module.__name__]
        declared = {name: tuple(sorted(ep.roles)) for name, member in inspect.getmembers(cls)
                    for ep in getattr(member, "nameko_entrypoints", ()) if isinstance(ep, Rpc)}
        assert openapi.declared_roles(service) == declared, service
    document = openapi.build(GatewayService)
    update = document["paths"]["/v1/candidates/{candidate_id}"]["patch"]
    assert update["x-werkbrug-roles"] and "Roles: " in update["description"]


def test_every_body_has_an_example_its_service_accepts():
    """Shapes only: what exists (an employer, a PC4 area, a KvK number not yet used) is the service's to say."""
    from marshmallow import Schema

    from gateway import examples

    bodies = {name: doc for name, doc in openapi.routes(GatewayService) if doc.body is not None}
    assert sorted(set(examples.BODIES) - set(bodies)) == [], "examples of no route"
    assert len(examples.BODIES) >= 29
    for name in examples.BODIES:
        doc = bodies[name]
        schema = doc.body() if isinstance(doc.body, type) else doc.body
        assert isinstance(schema, Schema), name
        schema.load(examples.BODIES[name])  # raises, naming the fields, if the service would refuse it
    document = openapi.build(GatewayService)
    body = document["paths"]["/v1/candidates"]["post"]["requestBody"]["content"]["application/json"]
    assert body["example"] == examples.CANDIDATE
