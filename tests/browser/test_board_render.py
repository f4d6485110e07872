"""The board page against a fixed board document (reporting's contract), no system needed:
every section rendered, Dutch number formats, "< 5" kept, live update on a new version."""

from __future__ import annotations

import copy
import time

from gateway.board import STATIC
from tests.browser.conftest import ARTIFACTS


def row(**kw):
    base = {"enrolled": 0, "placed": 0, "outflow_rate": None, "median_days_to_placement": None,
            "ended_early": 0, "sustained_6m_rate": None, "sustained_12m_rate": None}
    return {**base, **kw}


BOARD = {
    "version": 41,
    "as_of": "2026-11-23T09:15:00+00:00",
    "totals": row(enrolled=1234, placed=617, outflow_rate=0.5, median_days_to_placement=48.5, ended_early=37,
                  sustained_6m_rate=0.8125, sustained_12m_rate=0.702),
    "by_target_group": [
        row(target_group="bijstand", enrolled=640, placed=301, outflow_rate=0.4703, median_days_to_placement=52,
            ended_early=20, sustained_6m_rate=0.79, sustained_12m_rate=0.68),
        row(target_group="statushouder", enrolled=212, placed=159, outflow_rate=0.75, median_days_to_placement=61,
            ended_early=9, sustained_6m_rate=0.84, sustained_12m_rate=None),
        row(target_group="ww", enrolled="< 5", placed="< 5", ended_early="< 5"),
    ],
    "by_cohort": [
        row(cohort="werkfit-2026-1", enrolled=18, placed=14, outflow_rate=0.7778, median_days_to_placement=84,
            ended_early="< 5", sustained_6m_rate=0.9286, sustained_12m_rate=None),
        row(cohort="zorg-2026-1", enrolled="x", placed="x", ended_early="< 5", sustained_6m_rate=None),
        row(cohort="zorg-2026-2", enrolled="< 5", placed="< 5", ended_early=0),
    ],
    "trend": [
        {"period": "2026-08", "enrolled": 96, "placed": 41},
        {"period": "2026-09", "enrolled": 120, "placed": 58},
        {"period": "2026-10", "enrolled": "< 5", "placed": "< 5"},
        {"period": "2026-11", "enrolled": 131, "placed": 77},
    ],
    "targets": [
        {"id": "leerwerkbanen", "label": "1.000 extra leerwerkbanen", "target": 1000, "realised": 512,
         "share": 0.512, "start": "2026-01-01", "end": "2027-12-31",
         "trend": [{"period": "2026-09", "realised": 430}, {"period": "2026-10", "realised": 471},
                   {"period": "2026-11", "realised": 512}]},
        {"id": "banenafspraak", "label": "Garantiebanen", "target": 300, "realised": 45, "share": 0.15,
         "start": "2026-01-01", "end": "2026-12-31", "trend": []},
    ],
    "aftercare": [{"organisation": "soweco", "open": 1500, "overdue": 12},
                  {"organisation": "gemeente-enschede", "open": 84, "overdue": 0},
                  {"organisation": "unassigned", "open": 16, "overdue": 0}],
    "fairness": [{"target_group": "bijstand", "top_share": 0.41, "pool_share": 0.5},
                 {"target_group": "50plus", "top_share": None, "pool_share": 0.12}],
}


def test_the_page_renders_every_section_in_dutch_and_follows_a_new_version(browser):
    browser.call("fake", board=BOARD, static=str(STATIC))
    browser.call("wait_text", selector="#version", text="41")

    total = {k: browser.call("text", selector=f'[data-total="{k}"]') for k in BOARD["totals"]}
    assert total == {"enrolled": "1.234", "placed": "617", "outflow_rate": "50%", "median_days_to_placement": "48,5",
                     "ended_early": "37", "sustained_6m_rate": "81,3%", "sustained_12m_rate": "70,2%"}
    assert "23 november 2026" in browser.call("text", selector="#as-of")

    groups = browser.call("rows", selector="#group-table tr")
    assert groups[0] == ["Bijstand", "640", "301", "47%", "52", "20", "79%", "68%"]
    assert groups[1][:4] == ["Statushouders", "212", "159", "75%"]
    assert groups[2] == ["WW", "< 5", "< 5", "–", "–", "< 5", "–", "–"], "small groups stay hidden"
    cohorts = browser.call("rows", selector="#cohort-table tr")
    assert cohorts[0][:4] == ["werkfit-2026-1", "18", "14", "77,8%"]
    assert cohorts[1][:4] == ["zorg-2026-1", "x", "x", "–"], "a count hidden beside a small one"
    why = "Array.from(document.querySelectorAll('#cohort-table abbr')).map(a => a.textContent + ': ' + a.title)"
    assert "x: verborgen: anders is een kleine groep uit het totaal af te leiden" in browser.call("eval", js=why)
    assert browser.call("rows", selector="#trend-table tr")[2] == ["okt 2026", "< 5", "< 5"]
    assert browser.call("eval", js="!document.getElementById('trend-note').hidden")

    targets = browser.call("texts", selector="#targets .target-figures")
    assert targets == ["512 van 1.000 (51,2%)", "45 van 300 (15%)"]
    bar = "document.querySelector('#targets [role=progressbar]')"
    assert browser.call("eval", js=f"{bar}.getAttribute('aria-valuenow')") == "512"
    aftercare = browser.call("rows", selector="#aftercare-table tr")
    assert aftercare[0] == ["soweco", "1.500", "12"]
    assert aftercare[2] == ["Nog niet toegewezen", "16", "0"]
    assert browser.call("rows", selector="#fairness-table tr") == [["Bijstand", "41%", "50%", "-9 pp"],
                                                                   ["50-plussers", "–", "12%", "–"]]
    charts = browser.call("eval", js="Object.keys(Chart.instances).length")
    assert charts == 4, "trend, two breakdowns and one per target with a trend"

    changed = copy.deepcopy(BOARD)
    changed["version"] = 42
    changed["totals"]["placed"] = 618
    browser.call("set_board", board=changed)
    took_ms = browser.call("wait_text", selector='[data-total="placed"]', text="618", timeout_ms=3000)
    assert took_ms < 1000, "a new version shows within a second"

    # reporting may answer with a board older than the version it reports: the page asks again
    behind = copy.deepcopy(changed)
    browser.call("set_board", board=changed, version=43)
    behind["version"], behind["totals"]["placed"] = 43, 619
    time.sleep(0.7)
    assert browser.call("text", selector='[data-total="placed"]') == "618"
    browser.call("set_board", board=behind)
    assert browser.call("wait_text", selector='[data-total="placed"]', text="619", timeout_ms=3000) < 1000
    browser.call("screenshot", path=str(ARTIFACTS / "board-fake.png"))
    assert browser.call("problems") == []


def test_an_empty_board_says_so(browser):
    empty = {"version": 0, "as_of": None, "totals": row(), "by_target_group": [], "by_cohort": [], "trend": [],
             "targets": [], "aftercare": [], "fairness": []}
    browser.call("fake", board=empty, static=str(STATIC))
    browser.call("wait_text", selector="#version", text="0")
    assert browser.call("text", selector="#as-of") == "nog geen gebeurtenissen"
    assert browser.call("text", selector="#group-table") == "Nog geen gegevens."
    assert browser.call("text", selector="#targets") == "Er zijn nog geen doelen vastgelegd."
    assert browser.call("problems") == []
