"""Consent over HTTP (issue 19): what a candidate agreed to, as their registering organisation's
klantmanager records it; who else may see who they are follows from it (werkbrug_shared.visibility),
and a revocation holds from its answer on. For the registering organisation only, as over RPC."""

from __future__ import annotations

from candidates.schemas import ConsentInput, RevokeConsent
from gateway.replies import json_body, reply
from gateway.routes import body_fields, route

TAG = "candidates"
CONSENTS = "/v1/candidates/<string:candidate_id>/consents"
CONSENT = {"type": "object", "required": ["purpose", "holds"], "properties": {
    "id": {"type": "string"}, "candidate_id": {"type": "string"},
    "purpose": {"type": "string", "enum": ["matching", "mediation", "aftercare", "introduction"]},
    "organisation": {"type": "string", "nullable": True}, "scope": {"type": "string", "nullable": True},
    "match_id": {"type": "string", "nullable": True}, "given_on": {"type": "string", "nullable": True},
    "given_at": {"type": "string", "nullable": True}, "expires_on": {"type": "string", "nullable": True},
    "revoked_at": {"type": "string", "nullable": True}, "recorded_by": {"type": "string", "nullable": True},
    "professional": {"type": "string", "nullable": True},
    "holds": {"type": "boolean", "description": "whether it lets its organisation see personal data today"}}}
CONSENT_LIST = {"type": "object", "required": ["candidate_id", "matching_consent", "consents"], "properties": {
    "candidate_id": {"type": "string"},
    "matching_consent": {"type": "boolean", "description": "whether matching may rank the anonymous profile"},
    "consents": {"type": "array", "items": CONSENT}}}


class ConsentRoutes:
    """Mixed into the gateway service, which provides the candidates proxy."""

    @route("GET", CONSENTS, tag=TAG, rpc="candidates.consents", reply=CONSENT_LIST,
           summary="What the candidate consented to",
           description="Matching's consent and each organisation's (purpose, scope, date, expiry, revocation), "
                       "with whether it holds today. For the organisation that registered the candidate only.")
    def candidate_consents(self, request, candidate_id):
        return reply(200, self.candidates.consents(candidate_id))

    @route("POST", CONSENTS, tag=TAG, rpc="candidates.give_consent", body=ConsentInput, reply=CONSENT,
           summary="Record a consent the candidate gave",
           description="`mediation` and `aftercare` let the named organisation see personal data (`scope`: "
                       "`full`, or `contact` for name and contact details) until `expires_on` (its last day); "
                       "`introduction` (with `match_id`) lets a vacancy's steward organisation see the contact "
                       "details once the match was introduced; `matching` (no organisation) puts the anonymous "
                       "profile back in rankings. Given again, it replaces the earlier terms. By the "
                       "registering organisation only.")
    def give_candidate_consent(self, request, candidate_id):
        return reply(200, self.candidates.give_consent(candidate_id, json_body(request)))

    @route("POST", "/v1/candidates/<string:candidate_id>/consent-revocations", tag=TAG,
           rpc="candidates.revoke_consent", body=RevokeConsent, reply=CONSENT,
           summary="The candidate withdrew a consent",
           description="From this answer on no read shows what it opened; `matching`: the candidate leaves "
                       "every ranking within a second. By the registering organisation only.")
    def revoke_candidate_consent(self, request, candidate_id):
        body = body_fields(request, ("purpose", "organisation"), "revocation")
        return reply(200, self.candidates.revoke_consent(candidate_id, body.get("purpose"), body.get("organisation")))
