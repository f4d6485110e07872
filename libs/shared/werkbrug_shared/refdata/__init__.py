"""Reference data the product validates against: ESCO skills and occupations,
Dutch PC4 postcode areas. Loaded once per process, on first use.

Sources and licences: see NOTICE beside this file.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent
SKILL_PREFIX = "http://data.europa.eu/esco/skill/"
OCCUPATION_PREFIX = "http://data.europa.eu/esco/occupation/"


def _read(name: str):
    with gzip.open(HERE / name, "rb") as gz:
        yield from csv.DictReader(io.TextIOWrapper(gz, encoding="utf-8", newline=""))


@dataclass(frozen=True)
class Concept:
    uri: str
    label_en: str
    label_nl: str = ""
    kind: str = ""


@dataclass(frozen=True)
class PostcodeArea:
    pc4: str
    lat: float
    lon: float
    municipality: str
    province: str

    def distance_km(self, other: PostcodeArea) -> float:
        """Great-circle distance between two area centroids."""
        lat1, lon1, lat2, lon2 = map(math.radians, (self.lat, self.lon, other.lat, other.lon))
        h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
        return 2 * 6371.0 * math.asin(math.sqrt(h))


@cache
def skills() -> dict[str, Concept]:
    return {
        SKILL_PREFIX + r["id"]: Concept(SKILL_PREFIX + r["id"], r["label_en"], kind=r["type"])
        for r in _read("esco_skills.csv.gz")
    }


@cache
def occupations() -> dict[str, Concept]:
    return {
        OCCUPATION_PREFIX + r["id"]: Concept(OCCUPATION_PREFIX + r["id"], r["label_en"], r["label_nl"], r["isco"])
        for r in _read("esco_occupations.csv.gz")
    }


@cache
def postcode_areas() -> dict[str, PostcodeArea]:
    return {
        r["pc4"]: PostcodeArea(r["pc4"], float(r["lat"]), float(r["lon"]), r["municipality"], r["province"])
        for r in _read("pc4.csv.gz")
    }


def unknown_skills(uris) -> list[str]:
    known = skills()
    return [u for u in uris if u not in known]


def unknown_occupations(uris) -> list[str]:
    known = occupations()
    return [u for u in uris if u not in known]


def postcode_area(pc4: str) -> PostcodeArea | None:
    return postcode_areas().get(pc4)


ESCO_PREFIX = "http://data.europa.eu/esco/"


@dataclass(frozen=True)
class SkillTreeNode:
    """A concept of ESCO's broader skill tree: a skill, a broader skill or a skill group."""

    uri: str
    label: str
    is_group: bool
    broader: tuple[str, ...]


@dataclass(frozen=True)
class OccupationSkills:
    essential: tuple[str, ...]
    optional: tuple[str, ...]


@cache
def _skill_tree_rows() -> list[dict]:
    return list(_read("esco_skill_tree.csv.gz"))


@cache
def skill_tree() -> dict[str, SkillTreeNode]:
    """Every concept of the broader skill tree by URI, with its broader concepts."""
    rows = _skill_tree_rows()
    uris = [ESCO_PREFIX + r["uri"] for r in rows]
    labels = skills()
    tree = {}
    for uri, r in zip(uris, rows, strict=True):
        label = r["label"] or (labels[uri].label_en if uri in labels else "")
        broader = tuple(uris[int(i)] for i in r["broader"].split())
        tree[uri] = SkillTreeNode(uri, label, r["group"] == "1", broader)
    return tree


@cache
def occupation_skills() -> dict[str, OccupationSkills]:
    """Each ESCO occupation's essential and optional skills (URIs)."""
    uris = [ESCO_PREFIX + r["uri"] for r in _skill_tree_rows()]
    return {
        OCCUPATION_PREFIX + r["occupation"]: OccupationSkills(
            tuple(uris[int(i)] for i in r["essential"].split()), tuple(uris[int(i)] for i in r["optional"].split()))
        for r in _read("esco_occupation_skills.csv.gz")
    }
