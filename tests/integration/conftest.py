import shutil
import subprocess

import psycopg
import pytest
from kombu import Connection

from tests.integration.harness import AMQP_BASE, PG_ADMIN, System


def _require_infrastructure():
    try:
        with Connection(AMQP_BASE + "/", connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        pytest.fail(f"RabbitMQ does not answer at {AMQP_BASE} ({exc}); start it: rabbitmq-server -detached")
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except Exception as exc:
        pytest.fail(f"PostgreSQL does not answer at {PG_ADMIN} ({exc})")
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("the integration tests make a private vhost with rabbitmqctl, which is not on PATH")
    subprocess.run(["rabbitmqctl", "-q", "status"], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def system():
    """Every service running as its own nameko process, shared by the tests.

    Tests keep out of each other's way by using their own region and cohort.
    """
    _require_infrastructure()
    system = System()
    try:
        system.create()  # inside: a failed migrate still drops what was made (vhost, databases, SMTP server)
        system.start_all()
        yield system
    finally:
        system.destroy()


@pytest.fixture
def rpc(system):
    with system.rpc() as proxy:
        yield proxy


@pytest.fixture
def outsider(system):
    """A client without a credential: refused everything but the public aggregates."""
    with system.rpc(None) as proxy:
        yield proxy


@pytest.fixture
def soweco(system):
    """A client of Soweco, the organisation whose jobcoaches the tests register (as
    harness.register_jobcoaches does): only it sees and records their aftercare tasks."""
    with system.rpc("dev-soweco") as proxy:
        yield proxy
