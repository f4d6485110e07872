"""The ``werkbrug`` command: run, migrate, import, health, dead-letter and partner-credential
tools, and the commands services contribute (``werkbrug reporting rebuild``).

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

    add_partner_commands(sub)
    add_accountability_commands(sub)
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


AUDITED = ("candidates", "matching", "aftercare", "vacancies")  # the services keeping an audit log


def add_accountability_commands(sub) -> None:
    """``werkbrug audit check [SERVICE...]`` and ``werkbrug inzage CANDIDATE_ID``."""
    aud = sub.add_parser("audit", help="the audit logs of reads and changes of personal data")
    asub = aud.add_subparsers(dest="action", required=True)
    chk = asub.add_parser("check", help="walk each service's hash chain; name the first entry edited, removed "
                                        "or inserted (exit 1 if any)")
    chk.add_argument("services", nargs="*", metavar="SERVICE", help=f"any of {', '.join(AUDITED)} (default: all)")
    chk.set_defaults(handler=audit_check_command)

    inz = sub.add_parser("inzage", help="everything werkbrug holds on one person, from every service, "
                                        "as JSON (and a readable HTML page)")
    inz.add_argument("candidate_id")
    inz.add_argument("--credential", default=os.environ.get("WERKBRUG_CREDENTIAL"),
                     help="the registering partner's credential (or WERKBRUG_CREDENTIAL)")
    inz.add_argument("--professional", default=None, help="which of its professionals asks (in the audit log)")
    inz.add_argument("--output", type=Path, default=None, help="write the JSON here (default: standard output)")
    inz.add_argument("--html", type=Path, default=None, help="write the readable page here")
    inz.set_defaults(handler=inzage_command)


def audit_check_command(args) -> int:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from werkbrug_shared import audit

    unknown = sorted(set(args.services) - set(AUDITED))
    if unknown:
        print(f"werkbrug audit check: no audit log in {', '.join(unknown)}; the services with one: "
              f"{', '.join(AUDITED)}", file=sys.stderr)
        return 2
    broken = 0
    for service in args.services or AUDITED:
        engine = create_engine(config.database_url(service))
        try:
            with engine.connect() as connection:
                checked = audit.verify(connection)
        except (OperationalError, ProgrammingError):
            broken += 1
            print(f"{service}: no audit log in its database (run werkbrug migrate first)")
            continue
        finally:
            engine.dispose()
        if checked.intact:
            print(f"{service}: intact, {checked.entries} entries, head {checked.head_seq} {checked.head_hash}")
        else:
            broken += 1
            print(f"{service}: BROKEN at {checked.first_break} ({checked.entries} entries read, "
                  f"head {checked.head_seq})")
    return 1 if broken else 0


def inzage_command(args) -> int:
    from werkbrug_shared import inzage
    from werkbrug_shared.errors import Forbidden, NotFound, Unauthorized

    if not args.credential:
        print("werkbrug inzage: the registering partner's credential is needed: --credential or "
              "WERKBRUG_CREDENTIAL", file=sys.stderr)
        return 2
    try:
        document = inzage.gather_with(args.credential, args.candidate_id, args.professional)
    except (Forbidden, NotFound, Unauthorized) as exc:
        print(f"werkbrug inzage: refused: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(document, ensure_ascii=False, indent=2, default=str)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    if args.html:
        args.html.write_text(inzage.to_html(document), encoding="utf-8")
    return 0


def add_partner_commands(sub) -> None:
    """``werkbrug partners add|list|revoke|rotate``: the region's credentials, in WERKBRUG_PARTNERS_FILE."""
    from werkbrug_shared import roles

    part = sub.add_parser("partners", help="partner credentials: add, list, revoke, rotate")
    part.set_defaults(handler=partners_command)
    psub = part.add_subparsers(dest="action", required=True)

    def registry_file(p):
        p.add_argument("--file", default=None,
                       help="the registry (default: WERKBRUG_PARTNERS_FILE; never the packaged development one)")

    def expiry(p, required: bool):
        group = p.add_mutually_exclusive_group(required=required)
        group.add_argument("--expires", help="valid through this date (UTC), or until an ISO timestamp")
        group.add_argument("--days", type=int, help="valid for this many days from now")

    add = psub.add_parser("add", help="issue a credential (shown once) to a partner, new or known")
    add.add_argument("partner", help="the partner's id, e.g. gemeente-enschede")
    add.add_argument("--name", help="the organisation's name (a new partner)")
    add.add_argument("--kind", help="municipality, uwv, sw_company, leerwerkbedrijf, jobhunter_team, ... "
                                    "(a new partner)")
    add.add_argument("--region", help="the labour-market region (a new partner)")
    add.add_argument("--roles", required=True, help=f"comma-separated: {', '.join(sorted(roles.ALL))}, or all")
    expiry(add, required=True)
    registry_file(add)
    lst = psub.add_parser("list", help="partners and their credentials' ids, roles, expiry and state (no secret)")
    registry_file(lst)
    rev = psub.add_parser("revoke", help="revoke a credential: every service refuses it within seconds")
    rev.add_argument("credential_id")
    registry_file(rev)
    rot = psub.add_parser("rotate", help="a new credential (shown once) with the same partner and roles; "
                                         "the old one revoked, or with --grace-hours expiring then")
    rot.add_argument("credential_id")
    rot.add_argument("--grace-hours", type=float, default=None,
                     help="keep the old credential this many hours (while the partner switches over)")
    expiry(rot, required=False)
    registry_file(rot)


def partners_command(args) -> int:
    from datetime import UTC, datetime, timedelta

    from werkbrug_shared import actor, partner_registry, roles

    path = args.file or os.environ.get("WERKBRUG_PARTNERS_FILE")
    now = datetime.now(UTC)

    def fail(message: str) -> int:
        print(f"werkbrug partners: {message}", file=sys.stderr)
        return 1

    if args.action == "list":
        registry = partner_registry.load(path or actor.partners_file())
        for p in registry.partners:
            print(f"{p.id}  {p.name}  ({p.kind}, {p.region})")
            for c in p.credentials:
                expires = partner_registry.utc_text(c.expires) or "never"
                print(f"  {c.id:<32} {c.state(now):<8} expires {expires:<21} roles {','.join(sorted(c.roles)) or '-'}")
        return 0
    if not path:
        return fail("set WERKBRUG_PARTNERS_FILE (or --file) to the region's registry; the packaged "
                    "development one is never written")
    try:
        expires = None
        if getattr(args, "days", None) is not None:
            expires = now + timedelta(days=args.days)
        elif getattr(args, "expires", None):
            expires = partner_registry.instant(args.expires, "--expires")
        with partner_registry.editing(path) as held:
            if args.action == "add":
                held[0], credential, secret = partner_registry.issue(
                    held[0], args.partner, roles.parse(args.roles), expires, now,
                    name=args.name, kind=args.kind, region=args.region)
            elif args.action == "revoke":
                held[0] = partner_registry.revoke(held[0], args.credential_id, now)
                print(f"revoked {args.credential_id}; running services refuse it within a few seconds")
                return 0
            else:  # rotate
                grace = timedelta(hours=args.grace_hours) if args.grace_hours else None
                held[0], credential, secret = partner_registry.rotate(held[0], args.credential_id, now, expires, grace)
                print(f"{args.credential_id} " + (f"expires in {args.grace_hours:g} hours" if grace else "revoked"),
                      file=sys.stderr)
    except (ValueError, LookupError, partner_registry.PackagedFile) as exc:
        return fail(str(exc))
    if credential.expires is not None and credential.expires <= now:
        print("warning: this credential has already expired", file=sys.stderr)
    # the credential itself goes to stdout only, once; everything about it to stderr
    print(f"credential {credential.id} for {credential.partner_id}, roles {','.join(sorted(credential.roles))}, "
          f"expires {partner_registry.utc_text(credential.expires) or 'never'}; shown once, store it now:",
          file=sys.stderr)
    print(secret)
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
