"""The board page on the real system: a placement recorded through RPC shows on the open page.

Every service runs as its own ``nameko run`` process on a private RabbitMQ vhost
and private PostgreSQL databases (tests/integration/harness.py), here a system of
this module's own, so the board's totals are this test's alone.
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.system import running_system
from tests.integration.conftest import _require_infrastructure
from tests.integration.harness import eventually
from werkbrug_shared import clock  # the services' date, not the machine's

ENSCHEDE = "dev-gemeente-enschede"
CLEAN = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
PLACED = '[data-total="placed"]'


@pytest.fixture(scope="module")
def system():
    _require_infrastructure()
    with running_system() as system:
        yield system


class Region:
    """An employer with one vacancy and candidates for it, in a region of its own."""

    def __init__(self, rpc, openings: int):
        self.rpc = rpc
        self.name = f"bestuur-{uuid.uuid4().hex[:8]}"
        self.cohort = f"werkfit-{uuid.uuid4().hex[:4]}"
        employer = rpc.vacancies.register_employer({
            "name": "Schoonmaak Oost BV", "kvk_number": f"{uuid.uuid4().int % 10**8:08d}", "region": self.name,
            "postcode": "7511 JD"})
        self.vacancy = rpc.vacancies.open({
            "employer_id": employer["id"], "title": "schoonmaker", "region": self.name, "postcode": "7511 JD",
            "must_have": [{"skill": CLEAN, "weight": 1.0}], "hours_per_week": 32, "openings": openings})

    def candidate(self, groups) -> dict:
        return self.rpc.candidates.register({
            "given_name": "Sanne", "family_name": "de Vries", "region": self.name, "postcode": "7512 AB",
            "target_groups": list(groups), "skills": [CLEAN], "hours_per_week": 32, "cohort": self.cohort})

    def place(self, candidate, start_date: str) -> dict:
        return self.rpc.matching.record_placement({
            "candidate_id": candidate["id"], "vacancy_id": self.vacancy["id"], "start_date": start_date,
            "hours_per_week": 32})


def board_over_http(system) -> dict:
    response = system.http("GET", "/v1/board")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_placement_recorded_through_rpc_shows_on_the_open_board(system, browser):
    with system.rpc(ENSCHEDE, "jobhunter-anna") as rpc:
        region = Region(rpc, openings=10)
        groups = [["bijstand"]] * 5 + [["statushouder", "bijstand"]] * 2 + [["50plus"]]
        candidates = [region.candidate(g) for g in groups]
        wanted = {c["id"] for c in candidates}
        eventually(lambda: wanted <= set(rpc.matching.indexed(sorted(wanted))), what="matching to index them")
        for candidate in candidates[:5]:
            region.place(candidate, clock.today().isoformat())
        eventually(lambda: board_over_http(system)["totals"]["placed"] == 5, what="the board to count 5")

        browser.call("open", url=f"http://127.0.0.1:{system.http_port}/board")
        browser.call("wait_text", selector=PLACED, text="5", timeout_ms=10_000)
        assert browser.call("text", selector='[data-total="enrolled"]') == "8"
        rows = {r[0]: r[1:] for r in browser.call("rows", selector="#group-table tr")}
        assert rows["Bijstand"][:3] == ["7", "5", "71,4%"], "nl-NL: a decimal comma"
        assert rows["Statushouders"][:2] == ["< 5", "0"], "small groups read < 5"
        assert browser.call("rows", selector="#cohort-table tr")[0][:3] == [region.cohort, "8", "5"]

        region.place(candidates[5], clock.today().isoformat())
        recorded = time.monotonic()
        browser.call("wait_text", selector=PLACED, text="6", timeout_ms=10_000)
        shown_after = time.monotonic() - recorded

    print(f"placement recorded -> shown on the page: {shown_after * 1000:.0f} ms")
    assert shown_after < 3.0, "the page follows within a second or so (3 s allows for a loaded CI machine)"
    assert browser.call("text", selector='[data-total="outflow_rate"]') == "75%"
    time.sleep(2.3)  # the changed figures' highlight fades first
    browser.call("screenshot", path=str(ARTIFACTS / "board.png"))
    assert browser.call("problems") == [], "no script errors, no content-policy violations"
