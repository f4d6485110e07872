"""Each service's Alembic migrations build exactly the schema its models declare."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, inspect

from werkbrug_shared.config import DATABASE_SERVICES
from werkbrug_shared.migrations import alembic_config, upgrade

SERVICES = ("candidates", "vacancies", "matching", "aftercare", "reporting")


def test_every_database_service_is_covered():
    assert set(SERVICES) == set(DATABASE_SERVICES)


def _metadata(service: str):
    return importlib.import_module(f"{service}.models").metadata


def _url(tmp_path, service: str) -> str:
    return f"sqlite:///{tmp_path / (service + '.db')}"


def _diff(url: str, metadata) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def _current(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _head(service: str) -> str:
    return ScriptDirectory.from_config(alembic_config(service, "sqlite://")).get_current_head()


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_equal_models(tmp_path, service):
    url = _url(tmp_path, service)
    upgrade(service, url)
    assert _current(url) == _head(service)
    metadata = _metadata(service)
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(metadata.tables) | {"alembic_version"} == tables
    assert {"outbox", "processed_events"} <= tables
    assert _diff(url, metadata) == []


@pytest.mark.parametrize("service", SERVICES)
def test_upgrading_twice_is_harmless(tmp_path, service):
    url = _url(tmp_path, service)
    upgrade(service, url)
    upgrade(service, url)
    assert _current(url) == _head(service)
    assert _diff(url, _metadata(service)) == []


@pytest.mark.parametrize("service", SERVICES)
def test_single_linear_history(service):
    script = ScriptDirectory.from_config(alembic_config(service, "sqlite://"))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


def test_comparison_is_not_vacuous(tmp_path):
    """A model the migrations do not know about must show up as a difference."""
    url = _url(tmp_path, "reporting")
    upgrade("reporting", url)
    changed = MetaData(naming_convention=_metadata("reporting").naming_convention)
    for table in _metadata("reporting").tables.values():
        table.to_metadata(changed)
    Table("extra", changed, Column("id", Integer, primary_key=True))
    changed.tables["event_store"].append_column(Column("added", String(10), nullable=True))
    diffs = _diff(url, changed)
    assert ("add_table", "extra") in {(d[0], d[1].name) for d in diffs if d[0] == "add_table"}
    assert ("event_store", "added") in {(d[2], d[3].name) for d in diffs if d[0] == "add_column"}
