"""Proposals, placements and fairness: the rules, free of frameworks.

Scoring and ranking live in :mod:`matching.scoring` (the reference) and
:mod:`matching.index` (the vectorised index that agrees with it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

PROPOSED, INTRODUCED, REJECTED, PLACED = "proposed", "introduced", "rejected", "placed"
OPEN_MATCH = (PROPOSED, INTRODUCED)
# proposed → introduced → placed; rejected from either open state
MATCH_TRANSITIONS = {
    PROPOSED: {INTRODUCED, REJECTED, PLACED},
    INTRODUCED: {REJECTED, PLACED},
    REJECTED: set(),
    PLACED: set(),
}
ACTIVE, ENDED = "active", "ended"


class RuleBroken(Exception):
    """A request the rules refuse; the service turns it into a Conflict."""


def check_match_transition(current: str, wanted: str) -> None:
    if wanted not in MATCH_TRANSITIONS.get(current, set()):
        raise RuleBroken(f"a {current} match cannot become {wanted}")


def check_hours_fit(active_hours: list[int], new_hours: int, most_wanted: int | None) -> None:
    """Placements side by side must fit the hours the candidate wants at most.

    So two full-time placements never coexist, while two part-time jobs that
    add up to what someone wants to work can.
    """
    if not active_hours:
        return
    limit = most_wanted or 40
    total = sum(active_hours) + new_hours
    if total > limit:
        raise RuleBroken(
            f"the candidate already works {sum(active_hours)} hours a week in active placements; "
            f"{new_hours} more would make {total}, over the {limit} they want at most")


def request_differences(recorded: dict, given: dict) -> list[str]:
    """The fields in which a call reusing a request_id asks other than the call that made
    the placement: none, and it is a retry to answer with that placement."""
    return sorted(field for field in given if recorded.get(field) != given[field])


def credited_organisations(stewards, proposed_by: str | None, recorded_by: str | None) -> list[str]:
    """Who shares a placement's credit: every steward organisation of the vacancy,
    and the organisation that proposed the match (or recorded the placement)."""
    credited = set(stewards or ())
    credited.update(o for o in (proposed_by, recorded_by) if o)
    return sorted(credited)


@dataclass
class FairnessTally:
    """Per target group: how often in the top 10 served, against its share of the eligible pool.

    ``rankings`` counts rankings served; ``in_top`` and ``in_pool`` add up
    each ranking's counts, so a group's shares are weighted by how often it
    was in play.
    """

    rankings: int = 0
    top_total: int = 0  # people served in a top 10, summed over rankings
    pool_total: int = 0  # people eligible, summed over rankings
    in_top: Counter = field(default_factory=Counter)
    in_pool: Counter = field(default_factory=Counter)

    def add(self, fairness: dict | None) -> None:
        """One ranking's counts (a person may be in several groups, so shares need not add up to 1)."""
        if not fairness:
            return
        self.rankings += 1
        self.top_total += fairness["top"]
        self.pool_total += fairness["eligible"]
        self.in_top.update(fairness["top_by_group"])
        self.in_pool.update(fairness["eligible_by_group"])

    def merge(self, other: FairnessTally) -> None:
        """Add another tally's counts (another replica's)."""
        self.rankings += other.rankings
        self.top_total += other.top_total
        self.pool_total += other.pool_total
        self.in_top.update(other.in_top)
        self.in_pool.update(other.in_pool)

    def subtract(self, other: FairnessTally) -> None:
        self.rankings -= other.rankings
        self.top_total -= other.top_total
        self.pool_total -= other.pool_total
        self.in_top.subtract(other.in_top)
        self.in_pool.subtract(other.in_pool)
        self.in_top, self.in_pool = +self.in_top, +self.in_pool  # drop the zeros

    def report(self) -> dict:
        top_total, pool_total = self.top_total, self.pool_total
        groups = {}
        for group in sorted(set(self.in_pool) | set(self.in_top)):
            top_share = self.in_top[group] / top_total if top_total else 0.0
            pool_share = self.in_pool[group] / pool_total if pool_total else 0.0
            groups[group] = {
                "in_top": self.in_top[group], "in_pool": self.in_pool[group],
                "top_share": round(top_share, 4), "pool_share": round(pool_share, 4),
                # below 1: the group is ranked into the top less often than its presence in the pool
                "ratio": round(top_share / pool_share, 4) if pool_share else None,
            }
        return {"rankings": self.rankings, "served_in_top": top_total, "eligible": pool_total, "groups": groups}
