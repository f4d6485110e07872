import pytest

from tests.integration.conftest import _require_infrastructure
from tests.integration.harness import System


@pytest.fixture(scope="session")
def fuzz_system():
    """A whole system of the fuzz test's own, as the integration tests' ``system`` (every
    service a real ``nameko run`` process on RabbitMQ and PostgreSQL), with its timers
    quiet: a refused call is checked to have written nothing by counting rows, so nothing
    may write on its own meanwhile (aftercare's sweep, matching's fairness report)."""
    _require_infrastructure()
    system = System(extra_env={"WERKBRUG_AFTERCARE_SWEEP_SECONDS": "3600",
                               "WERKBRUG_MATCHING_FAIRNESS_REPORT_SECONDS": "3600"})
    # without the integration tests' 300 ms lock timeout for aftercare (their way of making a
    # handler fail on purpose): on a loaded machine it fires on ordinary contention, which is not bad input
    system.extra_env["AFTERCARE_DATABASE_URL"] = system.database_url("aftercare")
    try:
        system.create()
        system.start_all()
        yield system
    finally:
        system.destroy()
