"""The ``werkbrug`` command: run, migrate, and dead-letter tools."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from werkbrug_shared import config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="werkbrug")
    sub = parser.add_subparsers(dest="command", required=True)

    run_p = sub.add_parser("run", help="migrate and run every service")
    run_p.add_argument("services", nargs="*", default=list(config.SERVICES))
    run_p.add_argument("--config", default="config.yml", type=Path)

    mig = sub.add_parser("migrate", help="upgrade each service's database and declare the queues")
    mig.add_argument("services", nargs="*", default=list(config.DATABASE_SERVICES))

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
    if args.command == "run":
        from werkbrug_shared.runner import run

        return run(args.services, args.config)
    if args.command == "migrate":
        from werkbrug_shared import deadletters, migrations

        for service in args.services:
            migrations.upgrade(service)
            print(f"{service}: database at head")
        print(f"declared {deadletters.declare_topology()} consumer queues")
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


if __name__ == "__main__":
    sys.exit(main())
