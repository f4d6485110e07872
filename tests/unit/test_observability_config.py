"""Monitoring as code: deploy/prometheus and deploy/grafana.

promtool checks the scrape configuration and the alert rules and runs the
rules' unit tests. The rest catches what fails silently once deployed: an
alert or a panel on a metric nobody exports (a typo, a rename), a dashboard
pointing at a datasource that is not provisioned, scrape targets on the wrong
port, a file mounted where Grafana or Prometheus does not look.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from werkbrug_shared.config import DEFAULT_METRICS_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERT_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards" / "werkbrug.yml"
DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy" / "k8s"
SOURCE_DIRS = (ROOT / "libs", ROOT / "services")

# Business metrics the dashboards and alerts already use, before the services
# export them (reporting and aftercare are getting them). Remove a name from
# here once the code defines it.
PLANNED_METRICS = {
    "werkbrug_sustained_ratio",
    "werkbrug_aftercare_tasks_open",
    "werkbrug_aftercare_tasks_overdue",
    "werkbrug_board_last_update_timestamp_seconds",
    "werkbrug_placements_total",
}
# What rabbitmq_prometheus serves on /metrics/detailed per requested family.
RABBITMQ_FAMILIES = {
    "queue_coarse_metrics": {
        "rabbitmq_detailed_queue_messages_ready",
        "rabbitmq_detailed_queue_messages_unacked",
        "rabbitmq_detailed_queue_messages",
        "rabbitmq_detailed_queue_process_reductions_total",
    },
    "queue_consumer_count": {"rabbitmq_detailed_queue_consumers"},
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
METRIC_NAME = re.compile(r"\b(?:werkbrug|rabbitmq)_[a-z0-9_]+")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
COLLECTOR = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary|CounterMetricFamily|GaugeMetricFamily|HistogramMetricFamily"
    r"|SummaryMetricFamily)\(\s*[\"'](werkbrug_[a-z0-9_]+)[\"']"
)


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def promtool(*args: str) -> None:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail(
            "promtool is not installed: install Debian's `prometheus` package "
            "(apt-get install prometheus), which provides it; .ci/run does so in CI",
            pytrace=False,
        )
    result = subprocess.run([tool, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"promtool {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )


@functools.cache
def defined_metrics() -> tuple[set[str], set[str]]:
    """Names the code exports, as scraped; and those of histograms and summaries."""
    names, bucketed = set(), set()
    for directory in SOURCE_DIRS:
        for path in directory.rglob("*.py"):
            for kind, name in COLLECTOR.findall(path.read_text(encoding="utf-8")):
                if kind.startswith("Counter") and not name.endswith("_total"):
                    name += "_total"  # prometheus-client adds it on exposition
                names.add(name)
                if kind.startswith(("Histogram", "Summary")):
                    bucketed.add(name)
    return names, bucketed


def rabbitmq_metrics_scraped() -> set[str]:
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    families = jobs["rabbitmq"].get("params", {}).get("family", [])
    return set().union(*(RABBITMQ_FAMILIES[f] for f in families))


def unknown_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression that nothing scraped defines."""
    names, bucketed = defined_metrics()
    known = names | PLANNED_METRICS | rabbitmq_metrics_scraped()
    unknown = set()
    for name in METRIC_NAME.findall(QUOTED.sub('""', expr)):  # not label values
        base = next((name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)
        if name not in known and base not in bucketed:
            unknown.add(name)
    return unknown


def alert_rules() -> list[dict]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"] if "alert" in rule]


def grafana_datasource_uid() -> str:
    (datasource,) = load_yaml(DATASOURCES)["datasources"]
    assert datasource["type"] == "prometheus"
    return datasource["uid"]


# --- Prometheus ------------------------------------------------------------------


def test_definitions_are_found():
    names, bucketed = defined_metrics()
    assert {"werkbrug_requests_total", "werkbrug_outbox_backlog", "werkbrug_outflow_ratio"} <= names
    assert "werkbrug_request_duration_seconds" in bucketed


def test_promtool_accepts_the_scrape_config_and_its_rule_files():
    promtool("check", "config", str(PROMETHEUS_CONFIG.relative_to(ROOT)))


def test_promtool_accepts_the_alert_rules():
    promtool("check", "rules", str(ALERTS.relative_to(ROOT)))


def test_alert_rule_unit_tests_pass():
    promtool("test", "rules", str(ALERT_TESTS.relative_to(ROOT)))


def test_every_alert_has_severity_summary_and_description():
    for rule in alert_rules():
        assert rule.get("labels", {}).get("severity") in {"warning", "critical"}, rule["alert"]
        assert {"summary", "description"} <= set(rule.get("annotations", {})), rule["alert"]
        assert rule.get("for"), f"{rule['alert']} fires on a single evaluation"


def test_every_alert_is_tested_firing_and_quiet():
    cases: dict[str, set[bool]] = {}
    for test in load_yaml(ALERT_TESTS)["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    for rule in alert_rules():
        assert cases.get(rule["alert"]) == {True, False}, (
            f"{rule['alert']} needs a test where it fires and one where it does not"
        )


def test_alert_rules_use_only_metrics_that_exist():
    for rule in alert_rules():
        assert not unknown_metrics(rule["expr"]), f"{rule['alert']}: {unknown_metrics(rule['expr'])}"


def test_scrape_targets_are_the_services_metrics_ports():
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    compose = {
        group["labels"]["service"]: group["targets"] for group in jobs["werkbrug"]["static_configs"]
    }
    assert compose == {s: [f"{s}:{DEFAULT_METRICS_PORTS[s]}"] for s in SERVICES}

    # deploy/k8s (the base both overlays build on): the headless <service>-metrics Services
    k8s_services = {
        doc["metadata"]["name"]: [p["port"] for p in doc["spec"]["ports"]]
        for path in (K8S_DIR / "base").glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc and doc.get("kind") == "Service"
    }
    dns = {name: sd["port"] for sd in jobs["werkbrug-k8s"]["dns_sd_configs"] for name in sd["names"]}
    assert set(dns) == {f"{s}-metrics.werkbrug.svc" for s in SERVICES}
    for name, port in dns.items():
        service = name.split("-metrics.")[0]
        assert port == DEFAULT_METRICS_PORTS[service], name
        assert port in k8s_services.get(f"{service}-metrics", []), f"deploy/k8s has no {service}-metrics:{port}"


def test_rabbitmq_is_scraped_per_queue():
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    rabbitmq = jobs["rabbitmq"]
    assert rabbitmq["metrics_path"] == "/metrics/detailed"
    assert set(rabbitmq["params"]["family"]) == {"queue_coarse_metrics", "queue_consumer_count"}
    assert rabbitmq["static_configs"][0]["targets"] == ["rabbitmq:15692"]


# --- Grafana ---------------------------------------------------------------------


def dashboard_queries(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def as_promql(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced, so promtool can parse it."""
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "1m")
    return re.sub(r"\$\w+", ".*", expr)


@pytest.fixture(scope="module", params=DASHBOARDS, ids=lambda p: p.name)
def dashboard(request) -> dict:
    return json.loads(request.param.read_text(encoding="utf-8"))


def test_there_are_the_two_dashboards():
    assert {p.name for p in DASHBOARDS} == {"operators.json", "board.json"}


def test_dashboard_uids_are_unique():
    uids = [json.loads(p.read_text(encoding="utf-8"))["uid"] for p in DASHBOARDS]
    assert all(uids) and len(set(uids)) == len(uids), uids


def test_dashboard_is_well_formed(dashboard):
    assert dashboard["title"] and dashboard["uid"]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    ids = [panel.get("id") for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids), f"panel ids repeat: {ids}"
    for panel in dashboard["panels"]:
        where = f"{dashboard['uid']} panel {panel.get('id')} {panel.get('title')!r}"
        assert isinstance(panel.get("id"), int) and panel.get("type") and panel.get("title"), where
        grid = panel.get("gridPos", {})
        assert {"h", "w", "x", "y"} <= set(grid) and grid["x"] + grid["w"] <= 24, where
        assert panel.get("targets"), f"{where} has no query"
        ref_ids = [t.get("refId") for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), where
        for t in panel["targets"]:
            assert t.get("expr", "").strip(), f"{where} has an empty query"


def test_dashboard_uses_the_provisioned_datasource(dashboard):
    uid = grafana_datasource_uid()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        for t in panel["targets"]:
            assert t.get("datasource", panel["datasource"])["uid"] == uid, panel["title"]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            assert var["datasource"]["uid"] == uid, var["name"]


def test_dashboard_uses_only_metrics_that_exist(dashboard):
    for expr in dashboard_queries(dashboard):
        assert not unknown_metrics(expr), f"{dashboard['uid']}: {unknown_metrics(expr)} in {expr}"


def test_dashboard_queries_are_valid_promql(tmp_path):
    # promtool parses the expression of every rule: one recording rule per query
    rules = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        for i, expr in enumerate(dashboard_queries(board)):
            if expr.startswith("label_values("):
                continue  # Grafana's own function, not PromQL
            rules.append({"record": f"dashboard:{board['uid'].replace('-', '_')}:{i}", "expr": as_promql(expr)})
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    promtool("check", "rules", str(rule_file))


def test_grafana_loads_the_dashboards_docker_compose_mounts():
    compose = load_yaml(COMPOSE_FILE)["services"]
    (provider,) = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert provider["type"] == "file"
    grafana = dict(reversed(v.split(":")[:2]) for v in compose["grafana"]["volumes"])
    assert grafana[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert grafana["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"

    datasource_url = load_yaml(DATASOURCES)["datasources"][0]["url"]
    assert datasource_url == "http://prometheus:9090" and "prometheus" in compose
    prometheus = dict(reversed(v.split(":")[:2]) for v in compose["prometheus"]["volumes"])
    assert prometheus["/etc/prometheus"] == "./deploy/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in compose["prometheus"]["command"]
