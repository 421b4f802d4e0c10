# Host side of project_build: hash what feeds each build step, so a step
# whose inputs did not change is skipped.
#
# usage: python3 step_inputs.py PROJECT_DIR OUTPUT_GLOB [OUTPUT_GLOB ...]
# prints JSON with three sha256 digests over (path, content) pairs:
#   generate: files that feed `go generate`: go.mod, go.sum, every non-Go,
#             non-Markdown file (C, headers, ...) and the Go files holding
#             //go:generate
#   sources:  every source file (outputs excluded)
#   outputs:  the files matching OUTPUT_GLOB (what go generate wrote)
import fnmatch
import hashlib
import json
import os
import sys

SKIP_DIRS = {".git", ".labkit", "bin"}


def main(argv):
    root, globs = argv[1], argv[2:]
    gen, src, outp = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
    counts = {"generate": 0, "sources": 0, "outputs": 0}
    paths = []
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in files:
            paths.append(os.path.relpath(os.path.join(base, name), root))
    for rel in sorted(paths):
        with open(os.path.join(root, rel), "rb") as fh:
            data = fh.read()
        entry = rel.encode() + b"\0" + hashlib.sha256(data).digest()
        if any(fnmatch.fnmatch(os.path.basename(rel), g) for g in globs):
            outp.update(entry)
            counts["outputs"] += 1
            continue
        src.update(entry)
        counts["sources"] += 1
        if rel.endswith(".go") and b"//go:generate" in data or not rel.endswith((".go", ".md")):
            gen.update(entry)
            counts["generate"] += 1
    json.dump({"generate": gen.hexdigest(), "sources": src.hexdigest(),
               "outputs": outp.hexdigest(), "counts": counts}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
