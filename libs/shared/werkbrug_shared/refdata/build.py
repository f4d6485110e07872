"""Rebuild the compact reference tables from the published data sets.

    python -m werkbrug_shared.refdata.build ../shared/data

Keeps only what the product uses: ESCO skill and occupation ids with their
labels (English, and Dutch for occupations) and ISCO group; PC4 centroids.
"""

from __future__ import annotations

import csv
import gzip
import sys
from pathlib import Path

HERE = Path(__file__).parent
SKILL = "http://data.europa.eu/esco/skill/"
OCCUPATION = "http://data.europa.eu/esco/occupation/"


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


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
