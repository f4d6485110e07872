"""Payloads generated from the services' own marshmallow schemas, from one seeded
random generator: the same seed gives the same calls, and ten thousand of them
take a fraction of a second to make (hypothesis' ``.example()`` is neither
reproducible nor quick at that count).

Three kinds: *valid* (every required field, some optional ones, values each
field accepts), *almost valid* (a valid payload with one thing wrong: a field
missing, of the wrong type, out of range, null, too long, unknown, or holding
text no database can store) and *hostile* (several such, and worse: NUL bytes,
unpaired surrogates, 100,000-character strings, 10,000-item lists, deep
nesting, objects where text belongs, huge numbers).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import date, timedelta

from marshmallow import Schema, fields, validate

from werkbrug_shared import refdata

VALID, ALMOST, HOSTILE = "valid", "almost valid", "hostile"
KINDS = (VALID, ALMOST, HOSTILE)

SKILLS = sorted(refdata.skills())[:400:7]
OCCUPATIONS = sorted(refdata.occupations())[:300:7]
POSTCODES = {"Twente": ["7511 AB", "7512 CD", "7521", "7511"], "Midden-Utrecht": ["3511 AB", "3512 CD"]}
REGIONS = list(POSTCODES)
PLAIN = string.ascii_letters + string.digits + " -_.,"
UNICODE = "éëïöüçñßøåæœ€ŁŞİğ中文日本語한국어עבריתالعربية😀🚀 \t\n\u200b\ufeff"
BAD_TEXT = ["\x00", "7511\x00AB", "Twente\x00", "\udfff", "\ud800", "a\udc00b", "\x00\udfff"]
ANY_TYPE = [None, True, False, 0, -1, 1.5, 2**70, -(2**63) - 1, float("inf"), "", "x", [], {}, [1, "a"],
            {"a": {"b": [None]}}, "2026-02-30", "1 december", "true", "null", "9999-12-31", "0001-01-01"]

# which pool of existing ids an id field draws from, by its name
ID_KINDS = {
    "candidate_id": "candidate", "vacancy_id": "vacancy", "employer_id": "employer", "match_id": "match",
    "placement_id": "placement", "cohort_id": "cohort", "trajectory_id": "trajectory",
    "jobcoach_id": "jobcoach", "plan_id": "plan", "task_id": "task",
}
# values for fields whose validators are regular expressions or reference data
BY_NAME = {
    "postcode": lambda g: g.rng.choice(POSTCODES[g.region]),
    "employer_postcode": lambda g: g.rng.choice(POSTCODES[g.region]),
    "region": lambda g: g.region,
    "employer_region": lambda g: g.region,
    "phone": lambda g: g.rng.choice(["+31 6 12345678", "053-4567890", "0612345678"]),
    "bsn": lambda g: g.bsn(),
    "kvk_number": lambda g: g.digits(8),
    "employer_kvk": lambda g: g.digits(8),
    "sbi": lambda g: g.digits(g.rng.randint(2, 5)),
    "employer_sbi": lambda g: g.digits(4),
    "code": lambda g: g.rng.choice("ABCDEFGH") + g.digits(3),
    "certificate_skill": lambda g: g.rng.choice(SKILLS),
    "skill": lambda g: g.rng.choice(SKILLS),
    "occupation": lambda g: g.rng.choice(OCCUPATIONS),
    "organisation": lambda g: g.rng.choice(["gemeente-enschede", "gemeente-utrecht", "soweco", "uwv-twente"]),
    "cohort": lambda g: g.pick("cohort_name"),
    "trajectory": lambda g: g.pick("trajectory_name"),
}
LIST_ITEMS = {  # list fields whose items are reference data
    "skills": lambda g: g.rng.choice(SKILLS) if g.rng.random() < 0.6 else {
        "skill": g.rng.choice(SKILLS), "level": g.rng.randint(1, 4),
        "evidence": g.rng.choice(["diploma", "certificate", "work_experience", "practice_day", "informal"])},
    "skills_required": lambda g: g.rng.choice(SKILLS),
    "occupations_wanted": lambda g: g.rng.choice(OCCUPATIONS),
    "regions": lambda g: g.region,
}


@dataclass
class Gen:
    rng: random.Random
    pools: dict = field(default_factory=dict)  # kind -> [ids]: what the seeding and earlier calls made
    region: str = "Twente"
    schemas: dict = field(default_factory=dict)  # for lists of payloads (register_many, open_many)

    # --- plain values --------------------------------------------------------------------------

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def bsn(self) -> str:
        """A BSN that passes the elfproef (the last digit weighs -1)."""
        while True:
            first = [self.rng.randint(0, 9) for _ in range(8)]
            total = sum(d * w for d, w in zip(first, range(9, 1, -1), strict=True))
            last = total % 11
            if last < 10 and first[0] != 0:
                return "".join(map(str, first)) + str(last)

    def text(self, low: int = 1, high: int = 40) -> str:
        n = self.rng.randint(max(low, 1), max(low, min(high, 40)))
        alphabet = UNICODE + PLAIN if self.rng.random() < 0.3 else PLAIN
        value = "".join(self.rng.choice(alphabet) for _ in range(n))
        return value if value.strip() else "x" * n

    def a_date(self) -> str:
        return (date(2026, 1, 1) + timedelta(days=self.rng.randint(0, 730))).isoformat()

    def pick(self, kind: str):
        pool = self.pools.get(kind) or []
        if pool and self.rng.random() < 0.9:
            return self.rng.choice(pool)
        return self.rng.choice(["00000000-0000-4000-8000-000000000000", "nope", "x" * 64])

    def an_id(self, kind: str) -> str:
        return self.pick(kind)

    # --- from a schema -------------------------------------------------------------------------

    def payload(self, schema: Schema, partial: bool = False) -> dict:
        out = {}
        for name, fld in schema.load_fields.items():
            if fld.dump_only:
                continue
            wanted = fld.required and not partial
            if wanted or self.rng.random() < 0.4:
                out[name] = self.value(fld, name)
        return out

    def value(self, fld: fields.Field, name: str = ""):
        rng = self.rng
        if name in BY_NAME and not isinstance(fld, fields.List | fields.Nested):
            return BY_NAME[name](self)
        if name in ID_KINDS:
            return self.an_id(ID_KINDS[name])
        choices = [v.choices for v in fld.validators if isinstance(v, validate.OneOf)]
        if choices:
            return rng.choice(list(choices[0]))
        low, high = _bounds(fld)
        if isinstance(fld, fields.Email):
            return f"{self.text(1, 10).replace(' ', '').lower() or 'x'}{rng.randint(1, 10**6)}@example.org"
        if isinstance(fld, fields.Boolean):
            return rng.random() < 0.5
        if isinstance(fld, fields.Integer):
            return rng.randint(int(low if low is not None else 0), int(high if high is not None else 100))
        if isinstance(fld, fields.Float):
            lo, hi = (low if low is not None else 0.0), (high if high is not None else 100.0)
            return round(rng.uniform(lo, hi), 2) or hi
        if isinstance(fld, fields.Date):
            return self.a_date()
        if isinstance(fld, fields.List):
            n = rng.randint(max(low or 0, 1 if fld.required else 0), min(high if high is not None else 3, 3))
            if name in LIST_ITEMS:
                return [LIST_ITEMS[name](self) for _ in range(n)]
            if name == "candidates":
                return [self.payload(self.schemas["candidate"]) for _ in range(n)]
            if name == "vacancies":
                return [self.payload(self.schemas["vacancy"]) for _ in range(n)]
            return [self.value(fld.inner, "") for _ in range(n)]
        if isinstance(fld, fields.Nested):
            return self.payload(fld.schema)
        if isinstance(fld, fields.Dict):
            return {}
        if isinstance(fld, fields.String):
            return self.text(low or 1, high or 40)
        if name == "skills" or type(fld).__name__ == "Skill":
            return LIST_ITEMS["skills"](self)
        return self.text()

    # --- making it wrong ---------------------------------------------------------------------------

    def hostile_value(self):
        rng = self.rng
        choice = rng.random()
        if choice < 0.35:
            return rng.choice(BAD_TEXT) if rng.random() < 0.5 else self.text() + rng.choice(BAD_TEXT)
        if choice < 0.45:
            return rng.choice(["x", "é", "😀", "\x00", "\udfff"]) * rng.choice([10_001, 100_000])
        if choice < 0.52:
            return [rng.choice(ANY_TYPE[:8])] * rng.choice([1_001, 10_000])
        if choice < 0.58:
            deep = rng.choice(["\x00", 1, None, {}])
            for _ in range(rng.randint(20, 200)):
                deep = [deep] if rng.random() < 0.5 else {"a": deep}
            return deep
        if choice < 0.64:
            return {rng.choice(BAD_TEXT): 1, "\x00": "\udfff"}
        return rng.choice(ANY_TYPE)

    def spoil(self, payload, schema: Schema | None, hostile: bool):
        """One thing wrong with a payload (or, hostile, several and worse)."""
        rng = self.rng
        if not isinstance(payload, dict) or rng.random() < 0.05:
            return self.hostile_value() if hostile else rng.choice(ANY_TYPE)
        out = dict(payload)
        names = list(schema.load_fields) if schema is not None else list(out)
        for _ in range(rng.randint(2, 5) if hostile else 1):
            how = rng.random()
            name = rng.choice(names) if names else "x"
            if how < 0.15 and out:
                out.pop(rng.choice(list(out)))  # a required field, perhaps
            elif how < 0.25:
                out[rng.choice(["unknown", "id", "__type__", "organisation_id", "bsn_hash", ""])] = self.text()
            elif how < 0.4:
                out[name] = None
            elif how < 0.6 or hostile:
                out[name] = self.hostile_value() if hostile or rng.random() < 0.4 else rng.choice(ANY_TYPE)
            else:
                out[name] = self.out_of_range(schema.load_fields.get(name) if schema is not None else None)
        return out

    def out_of_range(self, fld):
        rng = self.rng
        low, high = _bounds(fld) if fld is not None else (None, None)
        if isinstance(fld, fields.Integer | fields.Float):
            return rng.choice([(high or 100) + 1, (low or 0) - 1, 10**12])
        if isinstance(fld, fields.List):
            return [rng.choice(ANY_TYPE)] * ((high or 50) + 1)
        if isinstance(fld, fields.String):
            return "x" * ((high or 255) + 1) if rng.random() < 0.5 else " padded "
        if isinstance(fld, fields.Date):
            # the last two are dates every schema takes: do the services downstream take them too?
            return rng.choice(["2026-13-01", "0000-01-01", "9999-12-31T00:00", "gisteren", "9999-12-31", "0001-01-01"])
        return rng.choice(ANY_TYPE)

    def spoil_scalar(self, value, hostile: bool):
        if hostile or self.rng.random() < 0.5:
            return self.hostile_value()
        return self.rng.choice(ANY_TYPE)


def _bounds(fld) -> tuple:
    low = high = None
    for v in getattr(fld, "validators", ()):
        if isinstance(v, validate.Range):
            low = v.min if v.min is not None else low
            high = v.max if v.max is not None else high
            if v.min is not None and not v.min_inclusive:
                low = v.min + 0.01
        elif isinstance(v, validate.Length):
            low = v.min if v.min is not None else (v.equal if v.equal is not None else low)
            high = v.max if v.max is not None else (v.equal if v.equal is not None else high)
    return low, high
