"""Rebuild the compact reference tables from the published data sets.

    python -m werkbrug_shared.refdata.build ../shared/data

Keeps only what the product uses: ESCO skill and occupation ids with their
labels (English, and Dutch for occupations) and ISCO group; PC4 centroids;
for matching's transferable skills, the broader skill tree (skill groups and
broader skills, with labels where esco_skills lacks them) and each
occupation's essential and optional skills.
"""

from __future__ import annotations

import csv
import gzip
import sys
from pathlib import Path

HERE = Path(__file__).parent
SKILL = "http://data.europa.eu/esco/skill/"
OCCUPATION = "http://data.europa.eu/esco/occupation/"
ESCO = "http://data.europa.eu/esco/"


def _rows(path: Path):
    with open(path, newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


def _write(name: str, header: list[str], rows) -> int:
    count = 0
    # mtime=0 keeps the file byte-identical across rebuilds
    with open(HERE / name, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        text = __import__("io").TextIOWrapper(gz, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
        text.flush()
        text.detach()
    return count


def build(source: Path) -> None:
    esco = source / "esco"
    skills = sorted(
        (r["conceptUri"].removeprefix(SKILL), r["skillType"], r["preferredLabel"])
        for r in _rows(esco / "skills_en.csv")
    )
    dutch = {r["conceptUri"]: r["preferredLabel"] for r in _rows(esco / "occupations_nl.csv")}
    occupations = sorted(
        (r["conceptUri"].removeprefix(OCCUPATION), r["iscoGroup"], r["preferredLabel"], dutch.get(r["conceptUri"], ""))
        for r in _rows(esco / "occupations_en.csv")
    )
    pc4 = sorted(
        (r["pc4"], r["lat"], r["lon"], r["municipality"], r["province"])
        for r in _rows(source / "postcodes" / "nl_pc4_centroids.csv")
    )
    print("skills", _write("esco_skills.csv.gz", ["id", "type", "label_en"], skills))
    print("occupations", _write("esco_occupations.csv.gz", ["id", "isco", "label_en", "label_nl"], occupations))
    print("pc4", _write("pc4.csv.gz", ["pc4", "lat", "lon", "municipality", "province"], pc4))
    build_skill_relations(esco)


def build_skill_relations(esco: Path) -> None:
    """The broader skill tree and occupation -> skill relations, for transferable skills.

    esco_skill_tree: one row per concept of the broader tree (skills, broader
    skills, skill groups), its URI without the ESCO prefix, whether it is a
    skill group, a label when esco_skills.csv.gz has none, and its broader
    concepts as row numbers of this same file. esco_occupation_skills: each
    occupation's essential and optional skills as row numbers of the tree.
    """
    skill_labels = {r["conceptUri"] for r in _rows(esco / "skills_en.csv")}
    labels = {}
    for name in ("transversalSkillsCollection_en.csv", "languageSkillsCollection_en.csv"):
        labels.update((r["conceptUri"], r["preferredLabel"]) for r in _rows(esco / name))
    groups = {r["conceptUri"]: r["preferredLabel"] for r in _rows(esco / "skillGroups_en.csv")}
    labels.update(groups)
    broader: dict[str, set[str]] = {}
    for r in _rows(esco / "broaderRelationsSkillPillar_en.csv"):
        broader.setdefault(r["conceptUri"], set()).add(r["broaderUri"])
        broader.setdefault(r["broaderUri"], set())
    concepts = sorted(broader)
    row_of = {uri: i for i, uri in enumerate(concepts)}
    tree = (
        (uri.removeprefix(ESCO), int(uri in groups), "" if uri in skill_labels else labels.get(uri, ""),
         " ".join(str(row_of[b]) for b in sorted(broader[uri], key=row_of.get)))
        for uri in concepts
    )
    print("skill tree", _write("esco_skill_tree.csv.gz", ["uri", "group", "label", "broader"], tree))
    relations: dict[str, tuple[set[int], set[int]]] = {}
    with gzip.open(esco / "occupationSkillRelations_en.csv.gz", "rt", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            essential, optional = relations.setdefault(r["occupationUri"].removeprefix(OCCUPATION), (set(), set()))
            (essential if r["relationType"] == "essential" else optional).add(row_of[r["skillUri"]])
    rows = (
        (occupation, " ".join(map(str, sorted(essential))), " ".join(map(str, sorted(optional - essential))))
        for occupation, (essential, optional) in sorted(relations.items())
    )
    print("occupation skills",
          _write("esco_occupation_skills.csv.gz", ["occupation", "essential", "optional"], rows))


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
