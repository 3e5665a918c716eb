#!/usr/bin/env python3
"""Copy the tables of one full bench/run.sh into BENCHMARKS.md.

    python3 bench/fill-doc.py bench/results/summary.md BENCHMARKS.md

BENCHMARKS.md marks each generated block with a pair of comments,

    <!-- run.sh: KEY -->
    ...
    <!-- /run.sh: KEY -->

and everything between them is replaced by the matching part of summary.md: `machine` (the
machine and run block), `goals`, `boot`, `syscalls`, `instructions`, `memory`, `size`,
`realworld`, `herd` and `phases` (sections "### Goals", "### 1." to "### 7." and "### Time
taken"). The prose around them is left alone: it quotes some figures, which are to be read
again after a run. Fails (exit 1) when a key has no block or no section, so that nothing is
filled halfway.
"""

import re
import sys

SECTIONS = {
    "goals": "### Goals",
    "boot": "### 1.",
    "syscalls": "### 2.",
    "instructions": "### 3.",
    "memory": "### 4.",
    "size": "### 5.",
    "realworld": "### 6.",
    "herd": "### 7.",
    "phases": "### Time taken",
}


def parts(summary):
    """KEY -> markdown body of that part of summary.md."""
    out = {}
    m = re.search(r"```\n(.*?)```", summary, re.S)
    if not m:
        sys.exit("fill-doc: no machine block in the summary")
    out["machine"] = "```\n" + m.group(1) + "```"
    heads = [(m.start(), m.group(0)) for m in re.finditer(r"^### .*$", summary, re.M)]
    for key, prefix in SECTIONS.items():
        found = [i for i, (_, h) in enumerate(heads) if h.startswith(prefix)]
        if not found:
            sys.exit(f"fill-doc: no section {prefix!r} in the summary")
        i = found[0]
        start = summary.index("\n", heads[i][0]) + 1
        end = heads[i + 1][0] if i + 1 < len(heads) else len(summary)
        out[key] = summary[start:end].strip("\n")
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().split("\n\n")[1])
    summary_path, doc_path = sys.argv[1], sys.argv[2]
    with open(summary_path, encoding="utf-8") as f:
        summary = f.read()
    if "(full run)" not in summary:
        sys.exit("fill-doc: not the summary of a full run")
    with open(doc_path, encoding="utf-8") as f:
        doc = f.read()
    for key, body in parts(summary).items():
        pattern = re.compile(
            r"(<!-- run\.sh: " + key + r" -->\n).*?(<!-- /run\.sh: " + key + r" -->)", re.S
        )
        if not pattern.search(doc):
            sys.exit(f"fill-doc: no <!-- run.sh: {key} --> block in {doc_path}")
        doc = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), doc, count=1)
    with open(doc_path, "w", encoding="utf-8") as f:
        f.write(doc)
    print(f"fill-doc: {doc_path} updated from {summary_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
