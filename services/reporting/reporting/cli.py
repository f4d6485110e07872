"""reporting's part of the ``werkbrug`` command: ``werkbrug reporting rebuild``.

The command finds this through the ``werkbrug.commands`` entry point in reporting's
pyproject.toml, so the shared library need not know the service.
"""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    reporting = commands.add_parser("reporting", help="reporting's read models")
    actions = reporting.add_subparsers(dest="action", required=True)
    rebuild = actions.add_parser("rebuild", help="replay the event store into fresh read models "
                                                 "(REPORTING_DATABASE_URL)")
    rebuild.add_argument("--batch-size", type=int, default=5000)
    rebuild.set_defaults(handler=_rebuild)


def _rebuild(args: argparse.Namespace) -> int:
    # imported when run: every other werkbrug command stays as light as before
    from reporting.rebuild import main

    return main(batch_size=args.batch_size)
