"""`werkbrug import`: the real command, interrupted and resumed."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid

from tests.integration.harness import ROOT, eventually
from tests.integration.test_spine import SKILL

ENSCHEDE = "dev-gemeente-enschede"


def importer(system, kind: str, path, batch_size: int = 10) -> subprocess.Popen:
    env = {**os.environ, "WERKBRUG_AMQP_URI": system.amqp_uri, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        [sys.executable, "-m", "werkbrug_shared.cli", "import", kind, str(path), "--credential", ENSCHEDE,
         "--batch-size", str(batch_size)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_an_interrupted_candidate_import_resumes_without_duplicates(system, tmp_path):
    region = f"regio-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "legacy.csv"
    rows, bad_lines = [], {}
    for i in range(300):
        row = {"source_ref": f"old-{i}", "given_name": f"Naam{i}", "family_name": "Import", "region": region,
               "postcode": "7511 AB", "target_groups": "bijstand|50plus", "skills": SKILL(i % 50),
               "hours_per_week": "24", "conditions": "no_night_shifts"}
        if i % 60 == 7:
            row["hours_per_week"] = "99"
            bad_lines[i + 2] = "hours_per_week"  # line 1 is the header
        if i % 60 == 8:
            row["target_groups"] = "astronaut"
            bad_lines[i + 2] = "target_groups"
        rows.append(row)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    state = path.with_name(path.name + ".import-state.json")

    first = importer(system, "candidates", path)
    eventually(lambda: state.exists() and json.loads(state.read_text())["rows_done"] >= 100, timeout=60,
               interval=0.02, what="the import to get going")
    first.send_signal(signal.SIGKILL)  # no clean-up, no last state write
    first.wait()
    done_before = json.loads(state.read_text())["rows_done"]
    assert done_before < 300

    second = importer(system, "candidates", path)
    out, err = second.communicate(timeout=120)
    assert f"resuming after row {done_before}" in err
    assert second.returncode == 1, out + err  # refused rows make it say so
    assert f"refused {len(bad_lines)}" in out

    good = 300 - len(bad_lines)
    counts = system.sql("candidates", "SELECT count(*), count(DISTINCT source_ref) FROM candidates WHERE region = %s",
                        region)[0]
    assert counts == (good, good), "every good row exactly once"
    report = list(csv.DictReader(open(path.with_name(path.name + ".errors.csv"))))
    assert {int(r["line"]): r["field"] for r in report} == bad_lines
    assert not state.exists(), "a finished import leaves no state behind"

    # running it once more changes nothing
    third = importer(system, "candidates", path)
    out, _ = third.communicate(timeout=120)
    assert "imported 0" in out and f"already there {good}" in out
    assert system.sql("candidates", "SELECT count(*) FROM candidates WHERE region = %s", region)[0][0] == good


def test_vacancies_import_registers_employers_by_kvk(system, tmp_path):
    region = f"regio-{uuid.uuid4().hex[:8]}"
    kvk = f"{uuid.uuid4().int % 10**8:08d}"
    path = tmp_path / "vacatures.jsonl"
    with open(path, "w") as f:
        for i in range(25):
            f.write(json.dumps({
                "source_ref": f"vac-{i}", "employer_kvk": kvk, "employer_name": "Groen BV", "employer_region": region,
                "title": f"hovenier {i}", "region": region, "postcode": "7511 JD", "skills_required": [SKILL(3)],
                "hours_per_week": 32, "openings": 1,
            }) + "\n")
        f.write("this is not json\n")
    proc = importer(system, "vacancies", path, batch_size=10)
    out, err = proc.communicate(timeout=120)
    assert "imported 25" in out and "refused 1" in out, out + err
    assert system.sql("vacancies", "SELECT count(*) FROM employers WHERE kvk_number = %s", kvk)[0][0] == 1
    assert system.sql("vacancies", "SELECT count(*) FROM vacancies WHERE region = %s", region)[0][0] == 25
    time.sleep(0)  # nothing to wait for: the RPC replied after its commit
