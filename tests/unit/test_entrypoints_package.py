"""The entrypoints package: the nameko it was written against, and the unit of work
an event handler names (every service's handlers name one that exists; the handler
works in it and in no other)."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from types import SimpleNamespace

import pytest
from nameko.exceptions import ConfigurationError
from sqlalchemy.orm import sessionmaker

from werkbrug_shared import config
from werkbrug_shared.db import Database, UnitOfWork, make_engine, service_metadata
from werkbrug_shared.deadletters import service_class
from werkbrug_shared.entrypoints import DUPLICATE, PROCESSED, ReliableEventHandler, event_handler
from werkbrug_shared.entrypoints.nameko_internals import NAMEKO_VERSION

EMPLOYER_REGISTERED = "nl.werkbrug.employer.registered.v1"


def test_the_installed_nameko_is_the_one_the_overrides_were_written_against():
    # on an upgrade: read nameko_internals' list of overrides against the new nameko, then move the pin
    assert version("nameko") == NAMEKO_VERSION


def handlers_of(cls):
    for name, method in inspect.getmembers(cls, inspect.isfunction):
        for ep in getattr(method, "nameko_entrypoints", ()):
            if isinstance(ep, ReliableEventHandler):
                yield name, ep


@pytest.mark.parametrize("service", config.SERVICES)
def test_every_event_handler_names_a_database_of_its_service(service):
    cls = service_class(service)
    for name, ep in handlers_of(cls):
        assert isinstance(getattr(cls, ep.unit_of_work, None), Database), f"{service}.{name}"


class _Container:
    """What ReliableEventHandler.setup reads before it declares anything on a broker."""

    accept = ["json", "cloudevents", "cloudevents-batch"]
    service_name = "nodb"
    config: dict = {}

    def __init__(self, service_cls):
        self.service_cls = service_cls
        self.shared_extensions = {}


def test_a_handler_naming_no_database_stops_the_service_at_setup():
    class NoDb:
        name = "nodb"
        store = Database(service_metadata())

        @event_handler(EMPLOYER_REGISTERED)
        def on_registered(self, event):
            pass

    (ep,) = NoDb.on_registered.nameko_entrypoints
    container = _Container(NoDb)  # held: an extension refers to its container weakly
    with pytest.raises(ConfigurationError, match=r"NoDb\.db is not a Database.*unit_of_work"):
        ep.bind(container, "on_registered").setup()


@pytest.fixture
def units(tmp_path):
    metadata = service_metadata()
    engines = []

    def unit(name):
        engine = make_engine(f"sqlite:///{tmp_path}/{name}.db")
        engines.append(engine)
        metadata.create_all(engine)
        return UnitOfWork(sessionmaker(engine), "probe", metadata.tables["outbox"],
                          metadata.tables["processed_events"])

    yield unit
    for engine in engines:
        engine.dispose()


def test_the_handler_works_in_the_unit_it_names_and_no_other(units):
    handled = []

    @event_handler(EMPLOYER_REGISTERED, unit_of_work="store")
    def on_registered(service, event):
        if event.id == "bad":
            raise ValueError("refused")
        handled.append(event.id)

    (ep,) = on_registered.nameko_entrypoints
    assert ep.unit_of_work == "store"
    service = SimpleNamespace(name="probe", store=units("store"), db=units("db"))
    service.store.mark_processed("probe.on_registered", "seen")
    events = [SimpleNamespace(id=i) for i in ("seen", "e1", "bad", "e2", "e1")]

    outcomes = on_registered(service, events)

    assert handled == ["e1", "e1", "e2"]  # the batch failed at "bad" and ran again event by event
    assert outcomes["seen"] == DUPLICATE
    assert outcomes["e1"] == outcomes["e2"] == PROCESSED
    assert outcomes["bad"][0] is ValueError
    service.store.session.commit()
    assert service.store.processed_among("probe.on_registered", ["seen", "e1", "bad", "e2"]) == {"seen", "e1", "e2"}
    assert not service.db.touched
