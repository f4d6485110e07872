"""Profiles for the matching tests, and the ESCO concepts the cases are about
(URIs from the ESCO v1.2.0 data, with their English labels)."""

from __future__ import annotations

from matching.profiles import CandidateProfile, VacancyProfile

OCCUPATION = "http://data.europa.eu/esco/occupation/"
SKILL = "http://data.europa.eu/esco/skill/"

CARPENTER = OCCUPATION + "2a22ff9e-de3b-408d-b312-5034896cc4f4"  # carpenter (timmerman)
HANDYPERSON = OCCUPATION + "f4a25243-b06a-42a9-9c69-246853df63ad"  # handyperson (klusjesman): the facility worker
BUILDING_CARETAKER = OCCUPATION + "1822bfc2-e735-449f-ba00-ca71eb5c062b"  # building caretaker (conciërge)
ACCOUNTANT = OCCUPATION + "eda0d957-3c3c-4139-b89a-a18bc9e18897"  # accountant
COOK = OCCUPATION + "90f75f67-495d-49fa-ab57-2f320e251d7e"  # cook

# the two essential skills carpenter and handyperson share
WORK_ERGONOMICALLY = SKILL + "156f8c5b-894a-4ccc-a70e-37a2726f3f00"  # work ergonomically
USE_MEASUREMENT_INSTRUMENTS = SKILL + "b92758d4-4591-4df1-9ceb-f907aa71ebd9"  # use measurement instruments
# handyperson essentials a carpenter does not list
USE_POWER_TOOLS = SKILL + "5bf7f85a-b080-4b27-8ddc-9f62af4643f5"  # use power tools
USE_TOOLBOX_TOOLS = SKILL + "b1338cfb-930c-4bcb-b77a-1034d76ddb0e"  # use traditional toolbox tools
# carpenter essentials
CREATE_WOOD_JOINTS = SKILL + "c3c3b550-f95e-4f1c-bdf3-ad1465e7b2ab"  # create wood joints
INSTALL_WOOD_HARDWARE = SKILL + "a47cfa4f-30f5-4306-b23d-11fbacd7f189"  # install wood hardware
JOIN_WOOD_ELEMENTS = SKILL + "2e8e2acf-5d58-4d99-807d-2ed77a6c8b17"  # join wood elements
CREATE_SMOOTH_WOOD_SURFACE = SKILL + "5df6be8c-c4ff-4bef-b744-3d502e5e5330"  # create smooth wood surface
CLEAN_WOOD_SURFACE = SKILL + "adf661fe-9429-4094-8671-ca69fb72ad02"  # clean wood surface
INSPECT_CONSTRUCTION_SUPPLIES = SKILL + "50f2d23c-b3fb-48a5-967b-14fd0a6dd205"  # inspect construction supplies
INTERPRET_2D_PLANS = SKILL + "dfce2aba-783e-4e17-9c17-e74aca505ec2"  # interpret 2D plans
KEEP_SAWING_EQUIPMENT = SKILL + "8fc9753d-810d-414a-ba0e-139c99f0b201"  # keep sawing equipment in good condition
SORT_WASTE = SKILL + "110d7aa3-e44e-4cce-a927-8d4de615f3d9"  # sort waste
# certificates
VCA_SAFETY = SKILL + "86df7af2-f9f3-4c06-a500-7f1fba9e78fe"  # follow health and safety procedures in construction
OPERATE_FORKLIFT = SKILL + "28cb374e-6261-4133-8371-f9a5470145da"  # operate forklift
LIFT_HEAVY_WEIGHTS = SKILL + "ab2bb44a-3956-4028-8715-8b70b1960b99"  # lift heavy weights
# an accountant's skills that reach none of handyperson's skill groups
ACCOUNTING_SKILLS = (
    SKILL + "08371fe9-c658-4f6a-966f-71dbb0ab683d",  # accounting department processes
    SKILL + "2ff405ec-f59c-4a7b-84b6-9776a49582c4",  # bookkeeping regulations
    SKILL + "39e43f7c-a95e-4583-be76-bb134ccce1ae",  # financial department processes
    SKILL + "4a460161-eaea-4fe2-bd0e-164ccc635be1",  # financial statements
)

# a former carpenter's werkprofiel: the two skills a handyperson also needs, and the trade
CARPENTER_SKILLS = (WORK_ERGONOMICALLY, USE_MEASUREMENT_INSTRUMENTS, CREATE_WOOD_JOINTS, INSTALL_WOOD_HARDWARE,
                    CREATE_SMOOTH_WOOD_SURFACE, CLEAN_WOOD_SURFACE, INSPECT_CONSTRUCTION_SUPPLIES, INTERPRET_2D_PLANS,
                    KEEP_SAWING_EQUIPMENT, SORT_WASTE)


def candidate(candidate_id: str = "c1", **fields) -> CandidateProfile:
    data = {
        "candidate_id": candidate_id, "region": "Twente", "pc4": "7511", "target_groups": ["bijstand"],
        "skills": [], "hours_per_week": 32, "conditions": [],
    }
    data.update(fields)
    return CandidateProfile.from_event(data)


def vacancy(vacancy_id: str = "v1", **fields) -> VacancyProfile:
    data = {
        "vacancy_id": vacancy_id, "employer_id": "e1", "region": "Twente", "pc4": "7512",
        "skills_required": [], "hours_per_week": 32, "openings": 1,
    }
    data.update(fields)
    return VacancyProfile.from_event(data)
