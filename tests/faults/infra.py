"""A RabbitMQ node and a PostgreSQL cluster of the fault tests' own.

Both run on their own loopback ports and data directories, so a test may
SIGKILL the broker or crash the database without touching the machine's
(RabbitMQ on 5672, PostgreSQL on 5432), which other tests use at the same time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

from tests.integration.harness import eventually, free_port

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _chown(path: Path, user: str) -> None:
    shutil.chown(path, user, user)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            shutil.chown(os.path.join(root, name), user, user)


def _as(user: str, argv: list[str], env: dict | None = None, timeout: float = 120,
        check: bool = True) -> subprocess.CompletedProcess:
    """Run ``argv`` as ``user`` (the tests run as root; both servers refuse to run as root)."""
    prefix = [] if os.geteuid() != 0 else ["runuser", "-u", user, "--"]
    if env:
        prefix += ["env", *[f"{k}={v}" for k, v in env.items()]]
    return subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout, check=check,
                          cwd="/")


class RabbitNode:
    """``<name>@localhost`` on 127.0.0.1:<port>, its mnesia and logs in a directory of its own."""

    def __init__(self, base: Path | None = None):
        self.name = f"werkbrug_faults_{uuid.uuid4().hex[:6]}"
        self.node = f"{self.name}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.dir = Path(base or tempfile.mkdtemp(prefix="werkbrug-rabbit-"))
        self.amqp_base = f"amqp://guest:guest@127.0.0.1:{self.port}"

    @property
    def env(self) -> dict:
        return {
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.dir / "node.pid"),
            "HOME": "/var/lib/rabbitmq",  # the machine's Erlang cookie, which rabbitmqctl uses too
        }

    def prepare(self):
        for sub in ("mnesia", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "loopback_users.guest = true\n"
            # a test may fill the disk a little; the machine's node keeps its own limits
            "disk_free_limit.absolute = 50MB\n"
        )
        (self.dir / "enabled_plugins").write_text("[].\n")
        _chown(self.dir, "rabbitmq")

    def start(self):
        if not (self.dir / "rabbitmq.conf").exists():
            self.prepare()
        _as("rabbitmq", [str(RABBITMQ_BIN / "rabbitmq-server"), "-detached"], env=self.env)
        # -detached returns before the node registers with epmd; await_startup fails at once until it has
        eventually(self._started, timeout=120, interval=0.5, what=f"RabbitMQ node {self.node} to start")

    def _started(self) -> bool:
        return _as("rabbitmq", [str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", self.node, "await_startup"],
                   env={"HOME": "/var/lib/rabbitmq"}, timeout=120, check=False).returncode == 0

    def ctl(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        result = _as("rabbitmq", [str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", self.node, *args],
                     env={"HOME": "/var/lib/rabbitmq"}, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed ({result.returncode}): "
                               f"{result.stdout}{result.stderr}")
        return result.stdout

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.dir / "node.pid").read_text().strip())
        return None

    def sigkill(self):
        """The node dies as a crash would: no clean shutdown, queues recovered from disk on start."""
        pid = self.pid()
        assert pid, "the node's pid file is missing"
        os.kill(pid, signal.SIGKILL)

        def gone():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        eventually(gone, timeout=30, what="the broker to die")
        # epmd forgets the name when the node's connection to it closes
        eventually(lambda: self.node.split("@")[0] not in _epmd_names(), timeout=30,
                   what="epmd to forget the node")

    def stop_app(self):
        self.ctl("stop_app")

    def start_app(self):
        self.ctl("start_app")
        self.ctl("await_startup")

    def list_queues(self, vhost: str) -> dict[str, tuple[int, int]]:
        """``{queue: (consumers, messages)}`` as the broker sees them."""
        out = self.ctl("list_queues", "-p", vhost, "name", "consumers", "messages", "--no-table-headers")
        queues = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[1].isdigit():
                queues[parts[0]] = (int(parts[1]), int(parts[2]))
        return queues

    def beam_pids(self) -> list[int]:
        """The node's Erlang VM, found by the name in its environment (also before it wrote its pid file)."""
        wanted = f"RABBITMQ_NODENAME={self.node}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if wanted in (entry / "environ").read_bytes().split(b"\0") and \
                        b"beam" in (entry / "cmdline").read_bytes().split(b"\0")[0]:
                    pids.append(int(entry.name))
        return pids

    def stop(self):
        """Throw the node away: SIGKILLed (nothing it holds is kept, and a clean stop of a node
        with many queues took up to a minute) and everything it wrote removed; never raises."""
        for pid in {*self.beam_pids(), *([self.pid()] if self.pid() else [])}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        shutil.rmtree(self.dir, ignore_errors=True)


def _epmd_names() -> str:
    result = subprocess.run(["epmd", "-names"], capture_output=True, text=True, timeout=10, check=False)
    return result.stdout


class PostgresCluster:
    """A throw-away PostgreSQL 15 cluster on 127.0.0.1:<port>, trust authentication."""

    def __init__(self, base: Path | None = None):
        self.port = free_port()
        self.dir = Path(base or tempfile.mkdtemp(prefix="werkbrug-pg-"))
        self.data = self.dir / "data"
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self):
        self.data.mkdir(parents=True, exist_ok=True)
        _chown(self.dir, "postgres")
        _as("postgres", [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                         "--no-sync", "-E", "UTF8", "--locale", "C.UTF-8"])

    def start(self):
        if not (self.data / "PG_VERSION").exists():
            self.init()
        # fsync off: a test crashes the server process, never the machine, so the page cache keeps what it wrote
        options = (f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections=400 "
                   "-c fsync=off -c full_page_writes=off -c shared_buffers=64MB")
        _as("postgres", [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                         str(self.dir / "postgres.log"), "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast", check: bool = True):
        _as("postgres", [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"],
            check=check)

    def crash(self):
        """``pg_ctl -m immediate stop``: every backend dies at once, recovery runs on the next start."""
        self.stop("immediate")

    def terminate_backends(self) -> int:
        """Kill every client backend (the services' pooled connections) with pg_terminate_backend."""
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            return conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchone()[0]

    def destroy(self):
        with contextlib.suppress(Exception):
            self.stop("immediate", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class RabbitCluster:
    """Three :class:`RabbitNode` s joined into one RabbitMQ cluster (``join_cluster``), each on
    its own ports, node name and data directory; clients reach it through a list of addresses."""

    def __init__(self, size: int = 3):
        self.nodes = [RabbitNode() for _ in range(size)]

    def start(self):
        starting = [threading.Thread(target=node.start) for node in self.nodes]  # each takes seconds
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.node, timeout=120)
            node.ctl("start_app", timeout=120)
            node.ctl("await_startup", timeout=120)

    def uri(self, vhost: str, nodes=None) -> str:
        """kombu's fail-over form: the addresses in turn, separated by ``;``."""
        return ";".join(f"{node.amqp_base}/{vhost}" for node in (nodes or self.nodes))

    def leaders(self, asking: RabbitNode, vhost: str) -> dict[str, str]:
        """``{queue: node leading it}`` of the vhost's quorum queues."""
        out = asking.ctl("list_queues", "-p", vhost, "name", "leader", "--no-table-headers")
        return {parts[0]: parts[1] for parts in (line.split("\t") for line in out.splitlines()) if len(parts) == 2}

    def stop(self):
        """Throw the cluster away: every node SIGKILLed (a clean stop of a cluster member waits
        on the others), everything it wrote removed; best effort, never raises."""
        for node in self.nodes:
            for pid in {*node.beam_pids(), *([node.pid()] if node.pid() else [])}:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        for node in self.nodes:
            shutil.rmtree(node.dir, ignore_errors=True)
