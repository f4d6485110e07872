"""Realistic synthetic candidates for benchmarks: Dutch-looking people, valid
BSNs, real PC4 areas, real ESCO skills, the target-group mix of a werkbedrijf."""

from __future__ import annotations

import random

from werkbrug_shared import refdata

GIVEN = ["Anna", "Mohammed", "Sanne", "Daan", "Fatima", "Lucas", "Emma", "Yusuf", "Sophie", "Jan", "Aya", "Noah",
         "Eva", "Ahmet", "Lotte", "Kees", "Amina", "Thijs", "Ilse", "Bram", "Zeynep", "Ruud", "Samira", "Wim"]
FAMILY = ["de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "El Amrani",
          "Yilmaz", "Mulder", "de Boer", "Bos", "Vos", "Peters", "Hendriks", "Dekker", "Kaya", "Brouwer"]
# share of candidates in each target group (a person may be in more than one)
TARGET_GROUPS = [("bijstand", 0.45), ("doelgroepregister", 0.20), ("ww", 0.15), ("statushouder", 0.10),
                 ("50plus", 0.15), ("sw", 0.05)]
CONDITIONS = [("low_stimulus_workplace", 0.08), ("jobcoach_needed", 0.15), ("no_night_shifts", 0.25),
              ("childcare_window", 0.10), ("no_heavy_lifting", 0.07)]


def bsn(rng: random.Random, used: set[str]) -> str:
    """A random 9-digit number that passes the elfproef, never the same twice."""
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(7)]
        total = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True))
        last = total % 11
        if last <= 9:
            number = "".join(map(str, digits + [last]))
            if number not in used:
                used.add(number)
                return number


def candidates(n: int, seed: int = 7, cohort_share: float = 0.2):
    rng = random.Random(seed)
    areas = list(refdata.postcode_areas().values())
    skills = sorted(u for u, c in refdata.skills().items() if c.kind == "skill/competence")
    common = skills[:: max(1, len(skills) // 600)]  # a few hundred skills do most of the work
    used: set[str] = set()
    for i in range(n):
        area = rng.choice(areas)
        groups = [g for g, p in TARGET_GROUPS if rng.random() < p] or ["bijstand"]
        row = {
            "source_ref": f"legacy-{i:07d}",
            "given_name": rng.choice(GIVEN), "family_name": rng.choice(FAMILY),
            "bsn": bsn(rng, used),
            "region": area.province, "postcode": f"{area.pc4} {rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}"
                                                  f"{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}",
            "target_groups": groups,
            "skills": rng.sample(common, rng.randint(3, 8)),
            "hours_per_week": rng.choice([8, 12, 16, 20, 24, 28, 32, 36, 38, 40]),
            "conditions": [c for c, p in CONDITIONS if rng.random() < p],
        }
        if rng.random() < cohort_share:
            row["cohort"] = f"cohort-{rng.randint(1, 40):02d}"
        yield row
