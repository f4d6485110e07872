"""Extract the openAPIV3Schema of each served version of CustomResourceDefinitions.

    python deploy/k8s/schemas/extract_crd_schemas.py CRD.yaml [CRD.yaml ...]

writes ``crds/<group>/<kind>_<version>.json`` beside this file: the schema as the CRD
has it, with the ``description`` texts left out (they are most of the size and
validate nothing). tests/deploy/test_k8s.py validates the custom resources of both
overlays against these files, offline. Where each CRD came from: README.md here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parent / "crds"


def without_descriptions(node):
    if isinstance(node, dict):
        # only the annotation text goes; a property *named* description (a mapping) stays
        return {
            key: without_descriptions(value)
            for key, value in node.items()
            if not (key == "description" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [without_descriptions(item) for item in node]
    return node


def main(paths: list[str]) -> None:
    for path in paths:
        for crd in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", True):
                    continue
                schema = without_descriptions(version["schema"]["openAPIV3Schema"])
                target = OUT / group / f"{kind.lower()}_{version['name']}.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
                print(f"{target.relative_to(OUT.parent)}: {target.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
