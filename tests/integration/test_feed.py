"""The partner change feed and its webhooks on a system of their own.

The services read the webhook settings from the nameko config, so this system runs on a copy
of config.yml with loopback receivers allowed and short back-offs. Receivers are real HTTP
servers on loopback (http.server in a thread) that check each request's signature.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reporting import webhooks
from tests.integration.harness import ROOT, System, eventually, free_port, matching_has
from werkbrug_shared.errors import Forbidden, ValidationError

ENSCHEDE, UTRECHT = "dev-gemeente-enschede", "dev-gemeente-utrecht"
CLEAN = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
OPENED = "nl.werkbrug.vacancy.opened.v1"
SETTINGS = """
# tests/integration/test_feed.py: loopback receivers, short back-offs
WEBHOOKS_ALLOW_PRIVATE: true
WEBHOOK_POLL_SECONDS: 0.1
WEBHOOK_BACKOFF_SECONDS: 0.2
WEBHOOK_BACKOFF_MAX_SECONDS: 0.5
WEBHOOK_MAX_ATTEMPTS: 6
WEBHOOK_TIMEOUT_SECONDS: 2
"""


class FeedSystem(System):
    """A system whose services run on config.yml plus the webhook settings above."""

    def create(self):
        super().create()
        self.config_file = self.logdir / "config-feed.yml"
        self.config_file.write_text((ROOT / "config.yml").read_text() + SETTINGS)

    def spawn(self, service: str, instance: str | None = None):
        """As System.spawn, on this system's config file."""
        name = instance or service
        env = self.env()
        if instance:
            self.metrics_ports[instance] = free_port()
            env[f"{service.upper()}_METRICS_PORT"] = str(self.metrics_ports[instance])
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the process)
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config", str(self.config_file), f"{service}.service"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def system():
    system = FeedSystem()
    try:
        system.create()
        system.start_all()
        yield system
    finally:
        system.destroy()


class Receiver:
    """An HTTP server on loopback: answers ``status(n)`` to the n-th request (0-based), records the
    events it accepted (2xx) and every request's signature check."""

    def __init__(self, status=lambda n, event: 200):
        self.status, self.secret = status, None
        self.accepted, self.requests, self.bad_signatures = [], 0, 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                event = json.loads(body)
                with receiver.lock:
                    n = receiver.requests
                    receiver.requests += 1
                    ok = (webhooks.verify(receiver.secret, self.headers, body)
                          and self.headers["Content-Type"].startswith("application/cloudevents+json")
                          and self.headers["Webhook-Id"] == event["id"])
                    receiver.bad_signatures += not ok
                    code = receiver.status(n, event)
                    if 200 <= code < 300:
                        receiver.accepted.append(event)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def employer(rpc) -> str:
    return rpc.vacancies.register_employer({"name": f"Feed {uuid.uuid4().hex[:8]}",
                                            "kvk_number": f"{uuid.uuid4().int % 10**8:08d}",
                                            "region": "Twente", "postcode": "7511 JD"})["id"]


def open_vacancy(rpc, employer_id: str, visibility: str = "public", title: str = "feed") -> str:
    return rpc.vacancies.open({"employer_id": employer_id, "title": title, "region": "Twente",
                               "postcode": "7511 JD", "must_have": [{"skill": CLEAN, "weight": 1.0}],
                               "hours_per_week": 24, "openings": 2, "visibility": visibility})["id"]


def whole_feed(rpc, after=0, types=None) -> list[dict]:
    events = []
    while True:
        page = rpc.reporting.feed(after=after, types=types, limit=1000)
        events += page["events"]
        if not page["events"]:
            return events
        after = page["next"]


def test_the_feed_shows_each_organisation_what_it_may_see(system):
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede, system.rpc(UTRECHT, "km") as utrecht:
        start = enschede.reporting.feed_snapshot()["position"]
        eid = employer(enschede)
        public = open_vacancy(enschede, eid, "public", "openbaar")
        hidden = open_vacancy(enschede, eid, "hidden", "geheim-feed")
        internal = open_vacancy(enschede, eid, "internal")
        region = f"feed-{uuid.uuid4().hex[:8]}"
        cid = enschede.candidates.register({
            "given_name": "Feed", "family_name": "Persoon", "region": region, "postcode": "7512 AB",
            "target_groups": ["bijstand"], "skills": [CLEAN], "hours_per_week": 24})["id"]
        eventually(lambda: matching_has(enschede, public, [cid]), what="matching to index both")
        placement = enschede.matching.record_placement({"candidate_id": cid, "vacancy_id": public,
                                                        "start_date": "2026-12-01", "hours_per_week": 24})["id"]
        enschede.vacancies.update(internal, {"visibility": "public"})
        enschede.vacancies.close(public, "filled_elsewhere")

        def seen(proxy):
            return [(e["type"].split(".")[2] + "." + e["type"].split(".")[3], e["subject"], e["data"])
                    for e in whole_feed(proxy, start)]

        mine = eventually(lambda: (s := seen(enschede)) and any(x[1] == public and x[0] == "vacancy.closed"
                                                                    for x in s) and s, what="Enschede's feed")
        theirs = eventually(lambda: (s := seen(utrecht)) and any(x[1] == public and x[0] == "vacancy.closed"
                                                                   for x in s) and s, what="Utrecht's feed")
        for feed in (mine, theirs):
            subjects = [s for _, s, _ in feed]
            assert hidden not in json.dumps(feed) and "geheim-feed" not in json.dumps(feed)
            assert (("vacancy.opened", public) in [(t, s) for t, s, _ in feed])
            assert (("vacancy.updated", internal) in [(t, s) for t, s, _ in feed])  # became public
            assert ("vacancy.closed", public, {"vacancy_id": public}) in feed  # its id alone
            assert internal in subjects and subjects.index(internal) > subjects.index(public)
        assert ("placement.recorded", placement) in [(t, s) for t, s, _ in mine]
        assert placement not in json.dumps(theirs) and cid not in json.dumps(theirs)
        positions = [e["position"] for e in whole_feed(enschede, start)]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
        # only the types asked for
        assert {e["type"] for e in whole_feed(enschede, start, [OPENED])} == {OPENED}
        snapshot = utrecht.reporting.feed_snapshot()
        assert internal in [v["subject"] for v in snapshot["vacancies"]]
        assert public not in [v["subject"] for v in snapshot["vacancies"]]  # closed
        assert hidden not in json.dumps(snapshot)
        with pytest.raises(Forbidden):
            utrecht.reporting.inzage(cid)
        mine_inzage = enschede.reporting.inzage(cid)
        assert {e["type"] for e in mine_inzage["records"]["events"]} >= {
            "nl.werkbrug.candidate.registered.v1", "nl.werkbrug.placement.recorded.v1"}
        with pytest.raises(ValidationError):
            utrecht.reporting.feed(after=-1)


def test_over_http_batches_ndjson_and_304(system):
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        head = enschede.reporting.feed_snapshot()["position"]
        eid = employer(enschede)
        vids = [open_vacancy(enschede, eid) for _ in range(3)]
        auth = {"Authorization": f"Bearer {ENSCHEDE}"}

        def got_all():
            r = system.http("GET", f"/v1/feed?after={head}&types={OPENED}", headers=auth)
            return r if r.status_code == 200 and len(r.json()) == 3 else None

        batch = eventually(got_all, what="the three vacancies in the feed")
        assert batch.headers["Content-Type"].startswith("application/cloudevents-batch+json")
        assert [e["subject"] for e in batch.json()] == vids
        etag = batch.headers["ETag"]
        assert etag == f'"{batch.json()[-1]["position"]}"' or int(etag.strip('"')) >= batch.json()[-1]["position"]
        lines = system.http("GET", f"/v1/feed?after={head}&types={OPENED}&limit=2",
                            headers={**auth, "Accept": "application/x-ndjson"})
        assert lines.status_code == 200 and lines.headers["Content-Type"].startswith("application/x-ndjson")
        assert [json.loads(line)["subject"] for line in lines.text.splitlines()] == vids[:2]
        assert lines.headers["ETag"] == f'"{json.loads(lines.text.splitlines()[-1])["position"]}"'
        unchanged = system.http("GET", f"/v1/feed?types={OPENED}", headers={**auth, "If-None-Match": etag})
        assert unchanged.status_code == 304 and unchanged.text == ""
        assert int(unchanged.headers["ETag"].strip('"')) >= int(etag.strip('"'))
        new = open_vacancy(enschede, eid)
        fresh = eventually(lambda: (r := system.http("GET", f"/v1/feed?types={OPENED}",
                                                     headers={**auth, "If-None-Match": etag})).status_code == 200
                           and r, what="the new vacancy")
        assert [e["subject"] for e in fresh.json()] == [new]
        assert system.http("GET", "/v1/feed?after=x", headers=auth).status_code == 400
        assert system.http("GET", "/v1/feed?limit=201", headers=auth).status_code == 400
        assert system.http("GET", "/v1/feed", headers={**auth, "Accept": "text/html"}).status_code == 406
        assert system.http("GET", "/v1/feed", anonymous=True).status_code == 401
        snapshot = system.http("GET", "/v1/feed/snapshot", headers=auth)
        assert snapshot.status_code == 200 and set(vids) <= {v["subject"] for v in snapshot.json()["vacancies"]}


def subscribe(rpc, receiver, types=(OPENED,)):
    sub = rpc.reporting.subscribe_webhook(receiver.url, list(types))
    receiver.secret = sub["secret"]
    return sub


def test_webhooks_arrive_signed_in_order_and_once_each_through_failures(system):
    # fails every request for its first second, then recovers (six attempts take about 2 s)
    started = []

    def flaky(n, event):
        started.append(time.monotonic()) if not started else None
        return 500 if time.monotonic() - started[0] < 1.0 else 200

    steady, failing = Receiver(), Receiver(flaky)
    # two replicas deliver: each subscription is claimed by one at a time (SKIP LOCKED)
    if "reporting-2" not in system.procs:
        system.start_instance("reporting", "reporting-2")
    try:
        with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
            subs = [subscribe(enschede, steady), subscribe(enschede, failing)]
            assert all(s["secret"] and len(s["secret"]) >= 40 for s in subs)
            assert all("secret" not in s for s in enschede.reporting.list_webhooks())
            eid = employer(enschede)
            vids = [open_vacancy(enschede, eid) for _ in range(30)]
            for receiver in (steady, failing):
                eventually(lambda r=receiver: len(r.accepted) >= 30, timeout=30, what="every event delivered")
            time.sleep(0.5)  # nothing more comes
            # in the feed's order (with two reporting replicas storing, commit order, not the order opened)
            in_feed = [e["subject"] for e in whole_feed(enschede, subs[0]["cursor"], [OPENED])]
            assert sorted(in_feed) == sorted(vids)
            for receiver in (steady, failing):
                assert [e["subject"] for e in receiver.accepted] == in_feed  # in order, each once
                positions = [e["position"] for e in receiver.accepted]
                assert positions == sorted(positions)
                assert len({e["id"] for e in receiver.accepted}) == 30
                assert receiver.bad_signatures == 0
            assert failing.requests > 30  # it did fail, and was retried
            listed = {s["id"]: s for s in enschede.reporting.list_webhooks()}
            assert listed[subs[1]["id"]]["dead_letters"] == 0 and listed[subs[1]["id"]]["pending"] == 0
            # another organisation neither sees nor stops them
            with system.rpc(UTRECHT, "km") as utrecht:
                assert subs[0]["id"] not in json.dumps(utrecht.reporting.list_webhooks())
            for sub in subs:
                enschede.reporting.unsubscribe_webhook(sub["id"])
    finally:
        steady.close()
        failing.close()


def test_a_dead_lettered_delivery_is_listed_and_replayed(system):
    poison = set()
    receiver = Receiver(lambda n, event: 500 if event["subject"] in poison else 200)
    try:
        with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
            sub = subscribe(enschede, receiver)
            eid = employer(enschede)
            first = open_vacancy(enschede, eid)
            eventually(lambda: len(receiver.accepted) == 1, what="the first delivered")
            with receiver.lock:  # the next one fails until the replay: poisoned by its id as soon as it opens
                second = open_vacancy(enschede, eid)
                poison.add(second)
            third = open_vacancy(enschede, eid)
            dead = eventually(lambda: enschede.reporting.webhook_dead_letters(sub["id"]), timeout=30,
                              what="the dead letter")
            assert len(dead) == 1 and dead[0]["attempts"] == 6 and dead[0]["last_error"] == "HTTP 500"
            eventually(lambda: [e["subject"] for e in receiver.accepted] == [first, third],
                       what="the rest to go on")
            assert enschede.reporting.list_webhooks()[0]["dead_letters"] == 1
            poison.clear()
            replayed = enschede.reporting.replay_webhook(sub["id"], dead[0]["position"] - 1)
            assert replayed["dead_letters_replayed"] == 1
            eventually(lambda: [e["subject"] for e in receiver.accepted] == [first, third, second, third],
                       what="the replay")
            assert enschede.reporting.webhook_dead_letters(sub["id"]) == []
            with pytest.raises(ValidationError):
                enschede.reporting.subscribe_webhook("ftp://127.0.0.1/x")
            enschede.reporting.unsubscribe_webhook(sub["id"])
    finally:
        receiver.close()
