"""Scoring, free of frameworks. The spine's score is plain skill overlap;
the matching issue replaces it with constraints and transferable skills."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Match:
    candidate_id: str
    score: float
    explanation: str


def skill_overlap(candidate_skills, required_skills) -> tuple[float, int]:
    required = set(required_skills)
    if not required:
        return 0.0, 0
    shared = len(required & set(candidate_skills))
    return shared / len(required), shared


def rank_candidates(candidates, required_skills, limit: int) -> list[Match]:
    """Top ``limit`` by share of required skills held; ties by id for a stable order."""
    required = len(set(required_skills))
    ranked = []
    for candidate_id, skills in candidates:
        score, shared = skill_overlap(skills, required_skills)
        if shared:
            ranked.append(Match(candidate_id, round(score, 4), f"has {shared} of the {required} required skills"))
    ranked.sort(key=lambda m: (-m.score, m.candidate_id))
    return ranked[:limit]
