"""What a credential may do: its roles. Every non-public ``@rpc`` names the roles that may
call it (``@rpc(roles=(JOBHUNTER,))``); a credential with none of them is Forbidden.
HTTP inherits the same check, since the gateway passes the caller's credential on."""

from __future__ import annotations

KLANTMANAGER = "klantmanager"  # a municipality's or UWV's case manager: registers candidates, their plan and trajectory
JOBHUNTER = "jobhunter"  # works with employers: employers, vacancies, stewards, shortlists, matching, placements
JOBCOACH = "jobcoach"  # coaches placed candidates: their aftercare tasks and check-ins
COORDINATOR = "coordinator"  # runs a coaching organisation: its jobcoaches, plans, reassignments, escalations
BOARD = "board"  # reads figures (counts, no person); reporting's aggregates are public anyway
OPERATOR = "operator"  # upkeep: the sweep on demand, the matching index's counts and contents

ALL = frozenset({KLANTMANAGER, JOBHUNTER, JOBCOACH, COORDINATOR, BOARD, OPERATOR})


def parse(names) -> frozenset[str]:
    """Role names from a list or a comma-separated text ("all": every role); ValueError on an unknown one."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, list | tuple | set | frozenset):
        raise ValueError(f"roles are a list of names, not {type(names).__name__}")
    wanted = set()
    for name in names:
        if name == "all":
            wanted |= ALL
        elif name in ALL:
            wanted.add(name)
        else:
            raise ValueError(f"unknown role {name!r}; the roles are {', '.join(sorted(ALL))}")
    return frozenset(wanted)
