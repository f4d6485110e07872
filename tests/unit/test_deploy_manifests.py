"""The deployment manifests: docker-compose.yml and the kustomize base in deploy/k8s.

Static checks for the drift that breaks a deploy without breaking a unit test:
a service left out, the wrong module in a command, two services sharing a
database, a probe or a resource limit forgotten, a kustomization naming a file
that is not there. Where the tools exist, `docker compose config` and
`kubectl kustomize` check the files as those tools read them.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml

from werkbrug_shared.config import DATABASE_SERVICES, DEFAULT_METRICS_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy" / "k8s"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"
CREDENTIALS_NAME = "werkbrug-credentials"
GATEWAY_HTTP_PORT = 8000


def load_all(path: Path) -> list[dict]:
    """Every non-empty document in a YAML file."""
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


def as_argv(command) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def compose_env(service: dict) -> dict[str, str]:
    """A compose service's environment, whether written as a mapping or a list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: str(value) for key, value in env.items()}


def service_module(service: str) -> str:
    return f"{service}.service"


def runs_module(argv: list[str], service: str) -> bool:
    return argv[:2] == ["nameko", "run"] and argv[-1] == service_module(service)


# --- docker-compose.yml -------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    docs = load_all(COMPOSE_FILE)
    assert len(docs) == 1, "docker-compose.yml holds one document"
    return docs[0]


@pytest.fixture(scope="module")
def compose_services(compose) -> dict:
    return compose["services"]


def test_compose_has_the_broker_the_database_the_migration_and_every_service(compose_services):
    missing = {"rabbitmq", "postgres", "migrate", *SERVICES} - set(compose_services)
    assert not missing, f"docker-compose.yml lacks {sorted(missing)}"
    assert compose_services["rabbitmq"]["image"].startswith("rabbitmq:3.13")
    assert compose_services["postgres"]["image"].startswith("postgres:15")
    for infra in ("rabbitmq", "postgres"):
        assert "healthcheck" in compose_services[infra], f"{infra} needs a healthcheck to be depended on"


def test_compose_postgres_runs_init_sql(compose_services):
    volumes = compose_services["postgres"].get("volumes", [])
    mounts = [v for v in volumes if isinstance(v, str) and "/docker-entrypoint-initdb.d/" in v]
    assert mounts, "init.sql must be mounted into /docker-entrypoint-initdb.d"
    source = mounts[0].split(":", 1)[0]
    assert (ROOT / source).resolve() == INIT_SQL.resolve()


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service_runs_its_own_module(compose_services, service):
    spec = compose_services[service]
    argv = as_argv(spec["command"])
    assert runs_module(argv, service), f"{service} runs {argv}"
    assert "--config" in argv and argv[argv.index("--config") + 1] == "config.yml"
    assert spec["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert (ROOT / spec["build"].get("context", ".") / spec["build"]["dockerfile"]).is_file()
    assert spec.get("restart") in {"always", "unless-stopped", "on-failure"}


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service_waits_for_broker_and_migrations(compose_services, service):
    depends = compose_services[service]["depends_on"]
    assert depends["rabbitmq"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    if service in DATABASE_SERVICES:
        assert depends["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service_exposes_its_metrics_port(compose_services, service):
    spec = compose_services[service]
    port = DEFAULT_METRICS_PORTS[service]
    assert int(compose_env(spec).get(f"{service.upper()}_METRICS_PORT", port)) == port
    exposed = {int(p) for p in spec.get("expose", [])}
    published = {int(str(p).rsplit(":", 1)[-1]) for p in spec.get("ports", [])}
    assert port in exposed | published, f"{service} metrics port {port} is not exposed"


def test_compose_gateway_publishes_http(compose_services):
    ports = [str(p) for p in compose_services["gateway"].get("ports", [])]
    assert any(p.split(":")[-1] == str(GATEWAY_HTTP_PORT) for p in ports), ports


def test_compose_each_database_service_has_its_own_database(compose_services):
    urls = {}
    for service in DATABASE_SERVICES:
        env = compose_env(compose_services[service])
        key = f"{service.upper()}_DATABASE_URL"
        assert key in env, f"{service} has no {key}"
        assert env[key].startswith("postgresql+psycopg://")
        assert env[key].rsplit("/", 1)[-1] == f"werkbrug_{service}"
        urls[service] = env[key]
    assert len(set(urls.values())) == len(urls), f"services share a database: {urls}"
    assert "GATEWAY_DATABASE_URL" not in compose_env(compose_services["gateway"])

    # The one-shot must migrate exactly the databases the services then use.
    migrate_env = compose_env(compose_services["migrate"])
    for service, url in urls.items():
        assert migrate_env.get(f"{service.upper()}_DATABASE_URL") == url


def test_compose_migrate_is_a_one_shot(compose_services):
    spec = compose_services["migrate"]
    assert as_argv(spec["command"])[:2] == ["werkbrug", "migrate"]
    assert str(spec.get("restart", "no")) == "no"
    assert "WERKBRUG_AMQP_URI" in compose_env(spec), "migrate declares the queues, so it needs the broker"


def test_init_sql_creates_every_service_database():
    sql = INIT_SQL.read_text(encoding="utf-8")
    for service in DATABASE_SERVICES:
        assert f"'werkbrug_{service}'" in sql
    assert "OWNER werkbrug" in sql


def test_docker_compose_accepts_the_file():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not on PATH")
    # The docker client can be there without its compose plugin.
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, cwd=ROOT)
    if probe.returncode != 0:
        pytest.skip("docker has no compose plugin")
    result = subprocess.run(
        [docker, "compose", "-f", "docker-compose.yml", "config", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


# --- deploy/k8s -----------------------------------------------------------------


def k8s_yaml_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.rglob("*") if p.suffix in {".yaml", ".yml"})


@pytest.fixture(scope="module")
def kustomization() -> dict:
    docs = load_all(K8S_DIR / "kustomization.yaml")
    assert len(docs) == 1
    return docs[0]


@pytest.fixture(scope="module")
def k8s_objects(kustomization) -> list[dict]:
    """Every object the kustomization pulls in (not the example Secret)."""
    objects = []
    for resource in kustomization["resources"]:
        path = K8S_DIR / resource
        # A missing file is test_kustomization_lists_files_that_exist's to report.
        if path.is_file():
            objects.extend(load_all(path))
    return objects


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [obj for obj in objects if obj.get("kind") == kind]


def pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def containers_running(deployment: dict, service: str) -> list[dict]:
    return [c for c in pod_spec(deployment)["containers"] if runs_module(as_argv(c.get("command", [])), service)]


@pytest.fixture(scope="module")
def deployments_by_service(k8s_objects) -> dict[str, dict]:
    found: dict[str, list[dict]] = {service: [] for service in SERVICES}
    for deployment in of_kind(k8s_objects, "Deployment"):
        for service in SERVICES:
            if containers_running(deployment, service):
                found[service].append(deployment)
    counts = {service: len(deps) for service, deps in found.items()}
    assert all(n == 1 for n in counts.values()), f"Deployments per service: {counts}"
    return {service: deps[0] for service, deps in found.items()}


def test_every_k8s_yaml_file_parses():
    files = k8s_yaml_files()
    assert files, "deploy/k8s has no YAML"
    for path in files:
        docs = load_all(path)
        assert docs, f"{path.name} is empty"
        for doc in docs:
            assert isinstance(doc, dict), f"{path.name} holds a non-mapping document"
            if path.name != "kustomization.yaml":
                assert {"apiVersion", "kind", "metadata"} <= set(doc), f"{path.name}: not a Kubernetes object"


def test_kustomization_lists_files_that_exist_and_no_secret(kustomization):
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources)), "a resource is listed twice"
    for resource in resources:
        assert (K8S_DIR / resource).is_file(), f"kustomization lists {resource}, which does not exist"
    assert kustomization.get("namespace") == "werkbrug"

    assert (K8S_DIR / "secret.example.yaml").is_file()
    assert "secret.example.yaml" not in resources, "real credentials must not come from the repository"
    # Every other manifest is part of the base: nothing sits there unused.
    listed = {(K8S_DIR / r).resolve() for r in resources}
    unlisted = {p.name for p in k8s_yaml_files() if p.resolve() not in listed} - {
        "kustomization.yaml",
        "secret.example.yaml",
    }
    assert not unlisted, f"manifests not in the kustomization: {sorted(unlisted)}"


def test_k8s_has_the_werkbrug_namespace(k8s_objects):
    assert [ns["metadata"]["name"] for ns in of_kind(k8s_objects, "Namespace")] == ["werkbrug"]


def test_k8s_has_no_secret_in_the_base(k8s_objects):
    assert not of_kind(k8s_objects, "Secret")


def test_k8s_exactly_one_deployment_per_service(k8s_objects, deployments_by_service):
    assert len(of_kind(k8s_objects, "Deployment")) == len(SERVICES)
    names = Counter(dep["metadata"]["name"] for dep in deployments_by_service.values())
    assert set(names) == set(SERVICES) and max(names.values()) == 1


def probe_target(container: dict, probe: dict) -> tuple[str, int]:
    """(path, port number) of an httpGet probe, resolving named ports."""
    http = probe["httpGet"]
    port = http["port"]
    if isinstance(port, str) and not port.isdigit():
        port = next(p["containerPort"] for p in container["ports"] if p.get("name") == port)
    return http["path"], int(port)


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_deployment_runs_its_module_with_probes_and_resources(deployments_by_service, service):
    deployment = deployments_by_service[service]
    (container,) = containers_running(deployment, service)
    metrics_port = DEFAULT_METRICS_PORTS[service]

    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            assert container["resources"][kind].get(resource), f"{service}: no {kind}.{resource}"

    assert "livenessProbe" in container and "readinessProbe" in container, f"{service} lacks a probe"
    targets = {
        name: probe_target(container, container[name])
        for name in ("livenessProbe", "readinessProbe", "startupProbe")
        if name in container
    }
    assert targets["livenessProbe"] == ("/health/live", metrics_port)
    if service == "gateway":
        assert targets["readinessProbe"] == ("/health", GATEWAY_HTTP_PORT)
    else:
        assert targets["readinessProbe"] == ("/health/ready", metrics_port)

    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert int(env.get(f"{service.upper()}_METRICS_PORT", metrics_port)) == metrics_port
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/scrape") == "true"
    assert annotations.get("prometheus.io/port") == str(metrics_port)


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_database_services_migrate_first(deployments_by_service, service):
    init_commands = [as_argv(c["command"]) for c in pod_spec(deployments_by_service[service]).get("initContainers", [])]
    if service in DATABASE_SERVICES:
        assert ["werkbrug", "migrate", service] in init_commands, init_commands
    else:
        assert not init_commands, "the gateway has no database to migrate"


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_runs_at_least_two_replicas(k8s_objects, deployments_by_service, service):
    """Competing consumers: with one replica a restart stops the service."""
    deployment = deployments_by_service[service]
    hpas = [
        hpa
        for hpa in of_kind(k8s_objects, "HorizontalPodAutoscaler")
        if hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    ]
    if hpas:
        assert hpas[0]["spec"]["minReplicas"] >= 2
    else:
        assert deployment["spec"].get("replicas", 1) >= 2


def test_k8s_autoscales_gateway_and_matching(k8s_objects, deployments_by_service):
    deployment_names = {dep["metadata"]["name"] for dep in of_kind(k8s_objects, "Deployment")}
    targets = set()
    for hpa in of_kind(k8s_objects, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["kind"] == "Deployment" and ref["name"] in deployment_names
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        targets.add(ref["name"])
    assert targets == {
        deployments_by_service["gateway"]["metadata"]["name"],
        deployments_by_service["matching"]["metadata"]["name"],
    }


def test_k8s_services_reach_the_pods(k8s_objects, deployments_by_service):
    services = of_kind(k8s_objects, "Service")
    for service, deployment in deployments_by_service.items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        selecting = [s for s in services if s["spec"]["selector"].items() <= pod_labels.items()]
        ports = {int(p["port"]) for s in selecting for p in s["spec"]["ports"]}
        assert DEFAULT_METRICS_PORTS[service] in ports, f"no Service for {service} metrics"
        if service == "gateway":
            assert GATEWAY_HTTP_PORT in ports, "no Service for the gateway's HTTP port"


def test_k8s_configmap_gives_each_service_its_own_database(k8s_objects):
    (configmap,) = of_kind(k8s_objects, "ConfigMap")
    data = configmap["data"]
    urls = {service: data[f"{service.upper()}_DATABASE_URL"] for service in DATABASE_SERVICES}
    assert len(set(urls.values())) == len(urls), urls
    for service, url in urls.items():
        assert url.startswith("postgresql+psycopg://postgres:5432/") and url.endswith(f"/werkbrug_{service}")
        assert "@" not in url, "credentials belong in the Secret, not the ConfigMap"
    assert data["RABBITMQ_HOST"] == "rabbitmq"


def test_k8s_credentials_come_from_the_example_secrets_keys(k8s_objects):
    (secret,) = load_all(K8S_DIR / "secret.example.yaml")
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == CREDENTIALS_NAME
    keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    referenced = set()
    for deployment in of_kind(k8s_objects, "Deployment"):
        spec = pod_spec(deployment)
        for container in spec["containers"] + spec.get("initContainers", []):
            env = {e["name"]: e for e in container.get("env", [])}
            assert "WERKBRUG_AMQP_URI" in env, f"{container['name']} has no broker URI"
            for entry in env.values():
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == CREDENTIALS_NAME
                    referenced.add(ref["key"])
    assert referenced and referenced <= keys, f"keys missing from the example Secret: {referenced - keys}"


def test_kustomize_builds_the_base():
    kubectl = shutil.which("kubectl")
    kustomize = shutil.which("kustomize")
    if kubectl:
        argv = [kubectl, "kustomize", str(K8S_DIR)]
    elif kustomize:
        argv = [kustomize, "build", str(K8S_DIR)]
    else:
        pytest.skip("neither kubectl nor kustomize is on PATH")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert all(doc["metadata"].get("namespace") == "werkbrug" for doc in built if doc["kind"] != "Namespace")
    assert len(of_kind(built, "Deployment")) == len(SERVICES)
