"""A small werkbrug service for tests of the shared plumbing (entrypoints,
consumers, unit of work): one RPC that reads, one that writes, one event handler.
Run in process by a nameko ServiceContainer, or as ``nameko run tests.integration.probe_service``."""

from __future__ import annotations

import os
import subprocess
import uuid

import psycopg
from sqlalchemy import Column, String, Table, text

from werkbrug_shared.db import Database, service_metadata
from werkbrug_shared.entrypoints import event_handler, rpc

EMPLOYER_REGISTERED = "nl.werkbrug.employer.registered.v1"
metadata = service_metadata()
notes = Table("notes", metadata, Column("id", String(64), primary_key=True), Column("body", String(200)))
HANDLED: list[str] = []


class Probe:
    name = "probe"
    db = Database(metadata)

    @rpc(public=True)
    def ping(self):
        return "pong"

    @rpc(public=True)
    def write_note(self, note_id, body):
        """Deliberately unvalidated: how a value the database refuses at commit reaches it."""
        self.db.session.execute(notes.insert().values(id=note_id, body=body))
        return {"id": note_id}

    @rpc(public=True)
    def count_notes(self):
        return self.db.session.execute(text("SELECT count(*) FROM notes")).scalar_one()

    @rpc(public=True)
    def unanswerable(self):
        return {"a set is no JSON": {1, 2}}

    @event_handler(EMPLOYER_REGISTERED)
    def on_employer_registered(self, event):
        HANDLED.append(event.id)


class ProbeWorld:
    """A private vhost and a private PostgreSQL database for the probe service."""

    def __init__(self):
        from tests.integration.harness import AMQP_BASE, PG_ADMIN

        tag = uuid.uuid4().hex[:8]
        self.vhost, self.database = f"werkbrug_test_probe_{tag}", f"werkbrug_test_probe_{tag}"
        self.amqp_uri = f"{AMQP_BASE}/{self.vhost}"
        self.pg_admin = PG_ADMIN
        self.database_url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + \
            f"/{self.database}"

    def create(self):
        from tests.integration.harness import rabbitmqctl
        from werkbrug_shared.db import make_engine

        rabbitmqctl("add_vhost", self.vhost)
        rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        with psycopg.connect(self.pg_admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        engine = make_engine(self.database_url)
        metadata.create_all(engine)
        engine.dispose()
        return self

    def destroy(self):
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], capture_output=True, timeout=60)
        with psycopg.connect(self.pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def config(self, **extra) -> dict:
        from werkbrug_shared import config

        return config.nameko_config(AMQP_URI=self.amqp_uri, PROBE_DATABASE_URL=self.database_url,
                                    PROBE_METRICS_PORT=0, **extra)

    def env(self, **extra) -> dict:
        return {**os.environ, "WERKBRUG_AMQP_URI": self.amqp_uri, "PROBE_DATABASE_URL": self.database_url,
                "PROBE_METRICS_PORT": "0", "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore", **extra}
