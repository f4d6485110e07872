"""Transferable skills from ESCO: what a person's skills say about occupations
they never held.

Exact skill overlap misses most transfers: a carpenter holds 2 of a
handyperson's 19 essential skills, yet their skills sit in the same parts of
ESCO's broader skill tree (using hand tools, assembling and fabricating
products, ...). So each skill stands for its *concepts*: the broader skills and
skill groups up to ``DEPTH`` levels above it, without the four roots every
skill shares. An occupation's profile is the union of its essential skills'
concepts; a concept weighs its inverse document frequency over all
occupations' profiles (ln(1 + occupations / (1 + occupations holding it))), so
"handling and moving" counts for little and "using hand tools" for much.

- fit(candidate, target): the weighted share of a target profile (an
  occupation, or a vacancy's skills) that the candidate's concepts cover;
- occupation similarity: weighted Jaccard of two occupations' profiles.

ESCO's building caretaker (conciërge) is mostly supervisory: it shares no
essential skill with carpenter and few skill groups, and scores low.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import sparse

from werkbrug_shared import refdata

DEPTH = 3
ROOTS = frozenset({
    "http://data.europa.eu/esco/skill/335228d2-297d-4e0e-a6ee-bc6a8dc110d9",  # skills
    "http://data.europa.eu/esco/skill/c46fcb45-5c14-4ffa-abed-5a43f104bb22",  # knowledge
    "http://data.europa.eu/esco/skill/04a13491-b58c-4d33-8b59-8fad0d55fe9e",  # transversal skills and competences
    "http://data.europa.eu/esco/skill/e35a5936-091d-4e87-bafe-f264e55bd656",  # language skills and knowledge
})
# ESCO's Dutch language skills (language collection), implied by a candidate's Dutch level
DUTCH_SKILLS = (
    "http://data.europa.eu/esco/skill/cad4f44b-28a8-4448-86e5-7389e5ebf3eb",  # Dutch
    "http://data.europa.eu/esco/skill/347d33a8-3698-4549-a7de-722a0216ee40",  # understand spoken Dutch
    "http://data.europa.eu/esco/skill/96ab25a3-c89b-43ea-833b-26b637c3b6ed",  # understand written Dutch
    "http://data.europa.eu/esco/skill/c44b765b-76fb-4a16-be7e-9925beee072c",  # interact verbally in Dutch
    "http://data.europa.eu/esco/skill/e35cfb6e-ea8e-4aef-aab9-3cbc7d79647b",  # write Dutch
)
EMPTY: frozenset[int] = frozenset()
SIMILARITY_ROWS = 4096  # cached rows of occupation similarity: all of ESCO's, at most 100 MB


@dataclass(frozen=True)
class OccupationComparison:
    """How a source occupation's essential skills meet a target occupation."""

    shared_essential: tuple[str, ...]  # essential skills of both
    target_essential: int
    shared_concepts: tuple[int, ...]  # target's concepts the source reaches
    target_concepts: int
    fit: float  # weighted share of the target's profile covered by the source's skills


class SkillKnowledge:
    """The broader tree and occupation profiles, built once per process (about a second)."""

    def __init__(self, tree=None, occupation_skills=None):
        tree = tree if tree is not None else refdata.skill_tree()
        occupation_skills = occupation_skills if occupation_skills is not None else refdata.occupation_skills()
        self._tree = tree
        ancestors: dict[str, set[str]] = {}
        for uri, node in tree.items():
            if node.is_group:
                continue
            reached: set[str] = set()
            front = {uri}
            for _ in range(DEPTH):
                front = {b for f in front for b in tree[f].broader if b in tree}
                reached |= front
            ancestors[uri] = reached - ROOTS
        self.concepts: list[str] = sorted(set().union(*ancestors.values()))
        self.concept_index = {uri: i for i, uri in enumerate(self.concepts)}
        self._skill_concepts: dict[str, frozenset[int]] = {
            uri: frozenset(self.concept_index[a] for a in reached) for uri, reached in ancestors.items()
        }
        self._skill_concept_arrays: dict[str, np.ndarray] = {}

        self.occupations: list[str] = sorted(occupation_skills)
        self.occupation_index = {uri: i for i, uri in enumerate(self.occupations)}
        self._occupation_skills = occupation_skills
        self._profiles: list[frozenset[int]] = [self.concepts_of(occupation_skills[o].essential)
                                                 for o in self.occupations]
        df = np.zeros(len(self.concepts))
        for profile in self._profiles:
            df[list(profile)] += 1
        self.idf: np.ndarray = np.log1p(len(self.occupations) / (df + 1.0))
        rows = np.repeat(np.arange(len(self._profiles)), [len(p) for p in self._profiles])
        cols = np.fromiter((c for p in self._profiles for c in sorted(p)), dtype=np.int64, count=len(rows))
        self.profile_matrix = sparse.csr_matrix(
            (self.idf[cols], (rows, cols)), shape=(len(self.occupations), len(self.concepts)))
        self.profile_norms: np.ndarray = np.asarray(self.profile_matrix.sum(axis=1)).ravel()
        self._similarities: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    # --- skills and concepts ---------------------------------------------------------

    def known_skills(self) -> list[str]:
        """Every skill ESCO knows a concept for, sorted (the index numbers skills by this order)."""
        return sorted(self._skill_concepts)

    def skill_concepts(self, skill: str) -> frozenset[int]:
        """The concepts (broader skills, skill groups) a skill stands for; empty if unknown."""
        return self._skill_concepts.get(skill, EMPTY)

    def skill_concept_array(self, skill: str) -> np.ndarray:
        found = self._skill_concept_arrays.get(skill)
        if found is None:
            found = self._skill_concept_arrays[skill] = np.array(sorted(self.skill_concepts(skill)), dtype=np.uint16)
        return found

    def concepts_of(self, skills) -> frozenset[int]:
        get = self._skill_concepts.get
        return EMPTY.union(*[get(skill, EMPTY) for skill in skills])

    def label(self, uri: str) -> str:
        node = self._tree.get(uri)
        if node is not None and node.label:
            return node.label
        known = refdata.skills().get(uri) or refdata.occupations().get(uri)
        return known.label_en if known else uri.rsplit("/", 1)[-1]

    def concept_label(self, concept: int) -> str:
        return self.label(self.concepts[concept])

    def is_group(self, concept: int) -> bool:
        return self._tree[self.concepts[concept]].is_group

    # --- occupations -----------------------------------------------------------------

    def essential_skills(self, occupation: str | None) -> tuple[str, ...]:
        found = self._occupation_skills.get(occupation) if occupation else None
        return found.essential if found else ()

    def optional_skills(self, occupation: str | None) -> tuple[str, ...]:
        found = self._occupation_skills.get(occupation) if occupation else None
        return found.optional if found else ()

    def occupation_concepts(self, occupation: str | None) -> frozenset[int]:
        i = self.occupation_index.get(occupation) if occupation else None
        return self._profiles[i] if i is not None else EMPTY

    def occupation_label(self, occupation: str | None) -> str:
        if not occupation:
            return ""
        known = refdata.occupations().get(occupation)
        return known.label_en if known else occupation.rsplit("/", 1)[-1]

    def fit(self, concepts, target: dict[int, float]) -> float:
        """Weighted share of ``target`` (concept -> weight) that ``concepts`` cover."""
        total = sum(target.values())
        return sum(target.get(c, 0.0) for c in sorted(concepts)) / total if total else 0.0

    def occupation_target(self, occupation: str | None) -> dict[int, float]:
        return {c: float(self.idf[c]) for c in sorted(self.occupation_concepts(occupation))}

    def compare(self, source: str, target: str) -> OccupationComparison:
        """Someone with ``source``'s essential skills against ``target``'s profile."""
        source_skills = self.essential_skills(source)
        target_essential = self.essential_skills(target)
        reached = self.concepts_of(source_skills)
        profile = self.occupation_concepts(target)
        return OccupationComparison(
            shared_essential=tuple(sorted(set(source_skills) & set(target_essential))),
            target_essential=len(target_essential),
            shared_concepts=tuple(sorted(reached & profile)),
            target_concepts=len(profile),
            fit=self.fit(reached, self.occupation_target(target)),
        )

    def similarities_to(self, occupation: str, among: np.ndarray | None = None) -> np.ndarray:
        """Weighted Jaccard similarity of every ESCO occupation's profile to this one's
        (index by ``occupation_index``), or of those ``among`` (indexes); itself 1.0.
        The whole row is cached for recent occupations; a part is computed row by row
        exactly as the whole would be."""
        i = self.occupation_index[occupation]
        with self._lock:
            found = self._similarities.get(i)
            if found is not None:
                self._similarities.move_to_end(i)
                return found if among is None else found[among]
        indicator = np.zeros(len(self.concepts))
        indicator[list(self._profiles[i])] = 1.0
        if among is not None:
            shared = self.profile_matrix[among] @ indicator
            union = self.profile_norms[among] + self.profile_norms[i] - shared
            sims = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
            sims[among == i] = 1.0
            return sims
        shared = self.profile_matrix @ indicator
        union = self.profile_norms + self.profile_norms[i] - shared
        sims = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
        sims[i] = 1.0
        sims.setflags(write=False)
        with self._lock:
            self._similarities[i] = sims
            while len(self._similarities) > SIMILARITY_ROWS:
                self._similarities.popitem(last=False)
        return sims

    def occupation_similarity(self, wanted: str, occupation: str) -> float:
        """How close a wanted occupation is to a vacancy's: 1.0 the same, 0.0 unknown."""
        if wanted == occupation:
            return 1.0
        if wanted not in self.occupation_index or occupation not in self.occupation_index:
            return 0.0
        return float(self.similarities_to(occupation)[self.occupation_index[wanted]])

    def memory_bytes(self) -> int:
        """Arrays held: profiles, weights, cached similarity rows and concept arrays (roughly)."""
        m = self.profile_matrix
        arrays = m.data.nbytes + m.indices.nbytes + m.indptr.nbytes + self.idf.nbytes + self.profile_norms.nbytes
        arrays += sum(row.nbytes for row in list(self._similarities.values()))
        arrays += sum(a.nbytes + 112 for a in list(self._skill_concept_arrays.values()))
        # the per-skill concept sets and profiles: about 220 bytes a set and 40 a member
        sets = len(self._skill_concepts) + len(self._profiles)
        members = sum(map(len, self._skill_concepts.values())) + sum(map(len, self._profiles))
        return arrays + 220 * sets + 40 * members

    def occupation_fits(self, concepts) -> np.ndarray:
        """fit() of these concepts against every occupation's profile, at once."""
        indicator = np.zeros(len(self.concepts))
        indicator[list(concepts)] = 1.0
        covered = self.profile_matrix @ indicator
        return np.divide(covered, self.profile_norms, out=np.zeros_like(covered), where=self.profile_norms > 0)


@cache
def knowledge() -> SkillKnowledge:
    """The process-wide instance, built on first use."""
    return SkillKnowledge()
