#!/usr/bin/env python3
"""CycloneDX 1.5 JSON SBOM for one sp-entrypoint release binary (called by scripts/release.sh).

The dependency graph is cargo's own, for exactly this build: `cargo tree -p sp-entrypoint
--target TARGET -e normal,build`, which resolves features as `cargo build` does (dev-dependencies
left out, so their features do not leak in). Each crate's SHA-256 is the checksum Cargo.lock
pins it to; its licence and repository come from its manifest. Crates linked into the binary
have scope "required"; those used only to build it (build scripts, proc-macros and what they
pull in) have scope "excluded" (CycloneDX: "not included in the final artifact").

Deterministic: the timestamp is SOURCE_DATE_EPOCH, the serial number is derived from the
binary's hash, and nothing depends on paths, the host or the time of the run. Standard library
only (Python 3.11+ for tomllib).

  python3 scripts/sbom.py --target TRIPLE --binary PATH --revision REV --out FILE.cdx.json
"""

import argparse
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib
import uuid

ROOT = "sp-entrypoint"
LINE = re.compile(r"^(\d+)(\S+) v(\S+)(?: \(([^)]*)\))?(?: \(([^)]*)\))?\|(.*)\|(.*)$")


def tree(target, edges, *extra):
    """[(depth, name, version, is_proc_macro, already_shown, license, repository)]."""
    out = subprocess.run(
        ["cargo", "tree", "--locked", "-p", ROOT, "--target", target, "-e", edges,
         "--prefix", "depth", "--charset", "ascii", "-f", "{p}|{l}|{r}", *extra],
        check=True, capture_output=True, text=True,
    ).stdout
    rows = []
    for raw in out.splitlines():
        if not raw.strip():
            continue
        # cargo appends ` (*)` to the line of a crate whose dependencies were shown before
        seen = raw.endswith(" (*)")
        m = LINE.match(raw.removesuffix(" (*)"))
        if not m:
            sys.exit(f"sbom.py: cannot read cargo tree line: {raw!r}")
        depth, name, version, p1, p2, lic, repo = m.groups()
        macro = "proc-macro" in (p1 or "", p2 or "")
        rows.append((int(depth), name, version, macro, seen, lic.strip(), repo.strip()))
    return rows


def purl(name, version):
    return f"pkg:cargo/{name}@{version}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--revision", required=True)
    ap.add_argument("--lock", default="Cargo.lock")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    with open(args.binary, "rb") as f:
        binary_sha = hashlib.sha256(f.read()).hexdigest()
    with open(args.lock, "rb") as f:
        lock = tomllib.load(f)
    checksums = {(p["name"], p["version"]): p.get("checksum") for p in lock.get("package", [])}
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    timestamp = datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # The whole build graph (normal and build edges), first full occurrence of each crate.
    full = tree(args.target, "normal,build")
    info, deps, stack = {}, {}, []
    for depth, name, version, macro, seen, lic, repo in full:
        key = (name, version)
        del stack[depth:]
        if stack:
            deps.setdefault(stack[-1], set()).add(key)
        info.setdefault(key, (macro, lic, repo))
        deps.setdefault(key, set())
        # A crate shown before (`(*)`) has no children listed here; push it anyway so the depth
        # bookkeeping stays right.
        stack.append(key)
    if not full or full[0][1] != ROOT:
        sys.exit("sbom.py: cargo tree did not start at sp-entrypoint")
    root = (full[0][1], full[0][2])

    # What is linked in: the normal-edge tree, not below a proc-macro. Not deduplicated: a
    # crate first shown below a proc-macro may be linked in through another path.
    linked, stack = set(), []
    for depth, name, version, macro, _seen, _lic, _repo in tree(args.target, "normal", "--no-dedupe"):
        del stack[depth:]
        host_only = any(stack) or macro
        if not host_only:
            linked.add((name, version))
        stack.append(host_only)

    components = []
    for key in sorted(info):
        if key == root:
            continue
        name, version = key
        _macro, lic, repo = info[key]
        c = {
            "type": "library",
            "bom-ref": purl(name, version),
            "name": name,
            "version": version,
            "scope": "required" if key in linked else "excluded",
            "purl": purl(name, version),
        }
        if checksums.get(key):
            c["hashes"] = [{"alg": "SHA-256", "content": checksums[key]}]
        if lic:
            c["licenses"] = [{"expression": lic}]
        if repo:
            c["externalReferences"] = [{"type": "vcs", "url": repo}]
        components.append(c)

    name, version = root
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'sha256:' + binary_sha)}",
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "sp-entrypoint scripts/sbom.py",
                                      "version": version}]},
            "component": {
                "type": "application",
                "bom-ref": purl(name, version),
                "name": name,
                "version": version,
                "purl": f"{purl(name, version)}?arch={args.target.split('-')[0]}",
                "licenses": [{"expression": info[root][1]}] if info[root][1] else [],
                "hashes": [{"alg": "SHA-256", "content": binary_sha}],
                "properties": [
                    {"name": "sp-entrypoint:target", "value": args.target},
                    {"name": "sp-entrypoint:revision", "value": args.revision},
                ],
            },
        },
        "components": components,
        "dependencies": [
            {"ref": purl(*k), "dependsOn": sorted(purl(*d) for d in deps[k])} for k in sorted(deps)
        ],
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(bom, f, indent=2, sort_keys=False)
        f.write("\n")
    required = sum(1 for c in components if c["scope"] == "required")
    print(f"sbom: {args.out}: {len(components)} crates ({required} linked in, "
          f"{len(components) - required} build-time only)")


if __name__ == "__main__":
    main()
