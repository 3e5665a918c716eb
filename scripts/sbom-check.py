#!/usr/bin/env python3
"""Check the release SBOMs: each is valid CycloneDX 1.5 JSON (strict schema validation, offline,
with cyclonedx-python-lib from PyPI) and describes the binary beside it (its SHA-256 and target).

  python3 scripts/sbom-check.py dist/*.cdx.json

Without cyclonedx-python-lib the schema validation prints one `skipped:` line (install it with
`pip install 'cyclonedx-python-lib[json-validation]'`); the other checks always run. Exits 1 on
any failure.
"""

import hashlib
import json
import sys


def main():
    files = sys.argv[1:]
    if not files:
        sys.exit("usage: sbom-check.py FILE.cdx.json...")
    try:
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator

        validator = JsonStrictValidator(SchemaVersion.V1_5)
    except ImportError:
        validator = None
        print("skipped: CycloneDX schema validation: cyclonedx-python-lib is not installed "
              "(pip install 'cyclonedx-python-lib[json-validation]')")
    failed = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        problems = []
        if validator is not None:
            error = validator.validate_str(text)
            if error is not None:
                problems.append(f"schema: {str(error).splitlines()[0]}")
        bom = json.loads(text)
        binary = path.removesuffix(".cdx.json")
        with open(binary, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        component = bom["metadata"]["component"]
        if {"alg": "SHA-256", "content": sha} not in component.get("hashes", []):
            problems.append(f"metadata.component.hashes does not hold {binary}'s SHA-256 {sha}")
        target = next((p["value"] for p in component.get("properties", [])
                       if p["name"] == "sp-entrypoint:target"), None)
        if target is None or not binary.endswith("-" + target):
            problems.append(f"target {target!r} is not {binary}'s")
        required = [c for c in bom.get("components", []) if c.get("scope") == "required"]
        if not required:
            problems.append("no component is linked in (scope required)")
        if problems:
            failed += 1
            for p in problems:
                print(f"sbom-check: {path}: {p}")
        else:
            schema = "valid CycloneDX 1.5" if validator is not None else "schema not checked"
            print(f"sbom-check: {path}: ok ({schema}; {len(bom['components'])} components, "
                  f"{len(required)} linked in; describes {binary})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
