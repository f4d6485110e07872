"""Trajectory modules and certificates that close a skill gap.

A must-have skill that a known module teaches does not exclude a candidate:
it becomes a skill gap with the module that closes it (a VCA course takes two
days; an employer asking for VCA rarely means "already certified or nobody").
The defaults are the certificates a werkbedrijf's trajectories commonly give,
each tied to the ESCO skills it certifies. A partner's trajectory with a
certificate module teaches matching one more (trajectory.defined; matching keeps
them in its database and registers them in its index's catalogue).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

S = "http://data.europa.eu/esco/skill/"


@dataclass(frozen=True)
class Module:
    name: str
    skills: tuple[str, ...]
    description: str = ""


DEFAULT_MODULES = (
    Module("VCA Basis", (
        S + "86df7af2-f9f3-4c06-a500-7f1fba9e78fe",  # follow health and safety procedures in construction
        S + "c643e59b-d74c-4f44-b76e-6e1d96c05ec4",  # use safety equipment in construction
        S + "51754b8a-3e2c-4cc1-86e6-cf510d9c6fe4",  # use personal protection equipment
        S + "6122d586-5978-431f-8e7a-96e61fc1f3fc",  # wear appropriate protective gear
    ), "Safety, health and environment certificate for construction, technical work and logistics"),
    Module("BHV", (
        S + "1d21f6ad-340f-45da-a0a3-4e83867f47a6",  # provide first aid
        S + "992b79df-dc2b-4c64-ab1c-c43e610e62f8",  # evacuate people from buildings
        S + "61268e22-9367-4c3b-91d9-b651e4c142e2",  # fire safety regulations
    ), "Bedrijfshulpverlening: first aid, fire fighting and evacuation at work"),
    Module("Heftruckcertificaat", (
        S + "28cb374e-6261-4133-8371-f9a5470145da",  # operate forklift
    ), "Forklift truck certificate"),
    Module("Hygiënecode / HACCP", (
        S + "5ba1d5b9-3f8d-46ca-bf9f-2e9ca65d1350",  # apply HACCP
        S + "0ff99f51-40d9-42f1-a1ec-377b2bb5e15f",  # comply with food safety and hygiene
        S + "fa46ff13-5ad7-4a11-85d6-4b0614e411de",  # food safety standards
    ), "Food hygiene code for catering and food production"),
    Module("Nederlands op de werkvloer (NT2)", (
        S + "cad4f44b-28a8-4448-86e5-7389e5ebf3eb",  # Dutch
        S + "347d33a8-3698-4549-a7de-722a0216ee40",  # understand spoken Dutch
        S + "96ab25a3-c89b-43ea-833b-26b637c3b6ed",  # understand written Dutch
        S + "c44b765b-76fb-4a16-be7e-9925beee072c",  # interact verbally in Dutch
        S + "e35cfb6e-ea8e-4aef-aab9-3cbc7d79647b",  # write Dutch
    ), "Dutch as a second language, with work-floor vocabulary"),
    Module("Digitale basisvaardigheden", (
        S + "f683ae1d-cb7c-4aa1-b9fe-205e1bd23535",  # use microsoft office
    ), "Basic digital skills: e-mail, office software"),
    Module("Basis schoonmaak (SVS)", (
        S + "4f1b6304-f54a-42f0-9604-5427a28d240f",  # perform cleaning duties
        S + "6ff01827-907d-43d8-b6e4-7162c1cf0aca",  # clean surfaces
        S + "a2cd3b30-2d6c-473e-a5d4-4e7cb576babe",  # clean building floors
    ), "Basic professional cleaning (SVS)"),
)


class ModuleCatalogue:
    """Which modules close which skill. Safe to share between threads."""

    def __init__(self, modules: Iterable[Module] = DEFAULT_MODULES):
        self._lock = threading.Lock()
        self._by_skill: dict[str, tuple[str, ...]] = {}
        self._modules: dict[str, set[str]] = {}
        self.version = 0  # bumps on every change, for callers that cache closability
        for module in modules:
            for skill in module.skills:
                self.register(module.name, skill)

    def register(self, module_name: str, skill_uri: str) -> bool:
        """Record that ``module_name`` closes ``skill_uri``; False if already known."""
        with self._lock:
            names = self._by_skill.get(skill_uri, ())
            if module_name in names:
                return False
            self._by_skill[skill_uri] = tuple(sorted((*names, module_name)))
            self._modules.setdefault(module_name, set()).add(skill_uri)
            self.version += 1
            return True

    def modules_for(self, skill_uri: str) -> tuple[str, ...]:
        """The modules that close this skill, by name (empty when none does)."""
        return self._by_skill.get(skill_uri, ())

    def closable(self, skill_uri: str) -> bool:
        return skill_uri in self._by_skill

    def closable_skills(self) -> frozenset[str]:
        return frozenset(self._by_skill)

    def skills_of(self, module_name: str) -> frozenset[str]:
        return frozenset(self._modules.get(module_name, ()))

    def module_names(self) -> list[str]:
        return sorted(self._modules)


CATALOGUE = ModuleCatalogue()


def register(module_name: str, skill_uri: str) -> bool:
    """Add a module learned at runtime to the process-wide catalogue."""
    return CATALOGUE.register(module_name, skill_uri)


def modules_for(skill_uri: str) -> tuple[str, ...]:
    return CATALOGUE.modules_for(skill_uri)
