"""Accountability over HTTP (issue 19): who registered a candidate, each service's audit log of the
reads and changes of their personal data, and each service's part of their inzage (a data-subject
request). For the registering organisation only, as over RPC; reporting's inzage is in feed.py.

One route per service's operation, under the candidate: ``/v1/candidates/{id}/audit-log/<service>``
and ``/v1/candidates/{id}/inzage/<service>``, as reporting's is."""

from __future__ import annotations

from gateway.replies import reply
from gateway.routes import Limit, query_cursor, query_limit, route

TAG = "candidates"
CANDIDATE = "/v1/candidates/<string:candidate_id>"
AUDIT_PAGE = {"type": "object", "required": ["items", "next_cursor"], "properties": {
    "items": {"type": "array", "items": {"type": "object", "description": "who (organisation, professional), "
                                                                          "when, why, what and which fields; "
                                                                          "never a value"}},
    "next_cursor": {"type": "string", "nullable": True}}}
INZAGE = {"type": "object", "required": ["service", "records"], "properties": {
    "service": {"type": "string"}, "records": {"type": "object", "description": "each kind of record to its rows"}}}


def _audit(service: str):
    @route("GET", f"{CANDIDATE}/audit-log/{service}", tag=TAG, rpc=f"{service}.audit_log", limit=Limit(100),
           cursor=True, reply=AUDIT_PAGE, summary=f"Who read or changed this candidate's personal data in {service}",
           description="Oldest first, a page at a time; the fields by name, never their values. For the "
                       "organisation that registered the candidate only.")
    def audit_log(self, request, candidate_id):
        return reply(200, getattr(self, service).audit_log(candidate_id, query_limit(request, 100),
                                                           query_cursor(request)))

    audit_log.__name__ = audit_log.__qualname__ = f"{service}_audit_log"
    return audit_log


def _inzage(service: str):
    @route("GET", f"{CANDIDATE}/inzage/{service}", tag=TAG, rpc=f"{service}.inzage", reply=INZAGE,
           summary=f"What {service} holds on one person (AVG inzage)",
           description="For the organisation that registered the candidate only.")
    def inzage(self, request, candidate_id):
        return reply(200, getattr(self, service).inzage(candidate_id))

    inzage.__name__ = inzage.__qualname__ = f"{service}_inzage"
    return inzage


class AccountabilityRoutes:
    """Mixed into the gateway service, which provides each service's proxy."""

    @route("GET", CANDIDATE + "/custodian", tag=TAG, rpc="candidates.custodian",
           reply={"type": "object", "required": ["candidate_id", "registered_by"],
                  "properties": {"candidate_id": {"type": "string"}, "registered_by": {"type": "string"}}},
           summary="Whether the caller registered this candidate",
           description="Answers the registering organisation; another is a 403.")
    def candidate_custodian(self, request, candidate_id):
        return reply(200, self.candidates.custodian(candidate_id))

    candidates_audit_log = _audit("candidates")
    vacancies_audit_log = _audit("vacancies")
    matching_audit_log = _audit("matching")
    aftercare_audit_log = _audit("aftercare")
    candidates_inzage = _inzage("candidates")
    vacancies_inzage = _inzage("vacancies")
    matching_inzage = _inzage("matching")
    aftercare_inzage = _inzage("aftercare")
