"""The ``werkbrug`` command: run, migrate, import, health and dead-letter tools, and the
commands services contribute (``werkbrug reporting rebuild``).

The shared library knows no service: a service adds its own subcommands through a
``werkbrug.commands`` entry point in its pyproject.toml, a function given the
subparsers that sets ``handler`` (``args -> exit code``) on each command it adds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from werkbrug_shared import config

COMMANDS = "werkbrug.commands"  # the entry point group a service's commands are in


def add_service_commands(sub) -> None:
    for entry in sorted(entry_points(group=COMMANDS), key=lambda e: e.name):
        try:
            register = entry.load()
        except Exception as exc:  # one service that does not import takes no other command with it
            print(f"werkbrug: the {entry.name} commands are left out: {exc!r}", file=sys.stderr)
            continue
        register(sub)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="werkbrug")
    sub = parser.add_subparsers(dest="command", required=True)

    run_p = sub.add_parser("run", help="migrate and run every service")
    run_p.add_argument("services", nargs="*", default=list(config.SERVICES))
    run_p.add_argument("--config", default="config.yml", type=Path)

    mig = sub.add_parser("migrate", help="upgrade each service's database and declare the queues")
    mig.add_argument("services", nargs="*", default=list(config.DATABASE_SERVICES))

    imp = sub.add_parser("import", help="bulk import candidates or vacancies from CSV or JSON Lines")
    imp.add_argument("kind", choices=["candidates", "vacancies"])
    imp.add_argument("file", type=Path)
    imp.add_argument("--credential", default=os.environ.get("WERKBRUG_CREDENTIAL"),
                     help="the importing partner's credential (or WERKBRUG_CREDENTIAL)")
    imp.add_argument("--batch-size", type=int, default=1000)
    imp.add_argument("--errors", type=Path, default=None, help="error report (default FILE.errors.csv)")

    add_service_commands(sub)

    health = sub.add_parser("health", help="ask a running service whether it is ready (or live); exit 0 if so")
    health.add_argument("service", choices=list(config.SERVICES))
    health.add_argument("--live", action="store_true", help="liveness instead of readiness")

    dlq = sub.add_parser("dlq", help="dead-lettered events")
    dsub = dlq.add_subparsers(dest="action", required=True)
    dsub.add_parser("list", help="dead-letter queues and how many messages each holds")
    show = dsub.add_parser("show", help="peek at dead letters (ids, types, errors; no data)")
    show.add_argument("queue")
    show.add_argument("--limit", type=int, default=20)
    rep = dsub.add_parser("replay", help="move dead letters back to their consumer queue")
    rep.add_argument("queue")
    rep.add_argument("--limit", type=int, default=None)

    args = parser.parse_args(argv)
    if hasattr(args, "handler"):  # a service's command
        return args.handler(args)
    if args.command == "run":
        from werkbrug_shared.runner import run

        return run(args.services, args.config)
    if args.command == "health":
        return check_health(args.service, "live" if args.live else "ready")
    if args.command == "import":
        from werkbrug_shared.importer import run_import

        if not args.credential:
            parser.error("an import needs the partner's credential: --credential or WERKBRUG_CREDENTIAL")
        report = run_import(args.kind, args.file, args.credential, args.batch_size, errors_path=args.errors)
        print(f"imported {report.imported}, already there {report.existing}, "
              f"refused {report.refused_total}, conflicts {report.conflicts}; "
              f"errors in {args.errors or args.file.with_name(args.file.name + '.errors.csv')}")
        return 0 if not report.refused_total and not report.conflicts else 1
    if args.command == "migrate":
        from werkbrug_shared import deadletters, migrations

        for service in args.services:
            migrations.upgrade(service)
            print(f"{service}: database at head")
        moved = deadletters.declare_topology()
        for queue, count in moved.items():
            print(f"{queue}: moved to a {config.queue_type()} queue with its {count} message(s)")
        print(f"queues declared ({config.queue_type()})")
        return 0
    from werkbrug_shared import deadletters

    if args.action == "list":
        for name, count in sorted(deadletters.dead_letter_counts().items()):
            print(f"{count:>7}  {name}")
    elif args.action == "show":
        for item in deadletters.peek(args.queue, args.limit):
            print(json.dumps(item, default=str))
    elif args.action == "replay":
        print(f"replayed {deadletters.replay(args.queue, args.limit)} message(s)")
    return 0


def check_health(service: str, which: str) -> int:
    """The compose healthcheck: the service's /health/<which> on its metrics port."""
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{config.metrics_port(service)}/health/{which}"
    try:
        with urllib.request.urlopen(url, timeout=4) as reply:  # noqa: S310 (loopback, our own port)
            print(reply.read().decode())
            return 0
    except urllib.error.HTTPError as failing:
        print(failing.read().decode())
    except OSError as exc:
        print(f"{service} does not answer at {url}: {exc}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
