#!/usr/bin/env python3
"""Per test binary, how many tests `cargo test` ran; fails when one that should hold tests ran none.

Reads the output of `cargo test` on stdin (`cargo test --workspace 2>&1 | tee log`, then
`.ci/test-counts.py < log`). A binary that ran no test is a fault unless it is listed in
`.ci/no-tests.txt` (one name a line, as printed here, with a `#` reason): a feature gate or a
moved file that silently empties a test binary then fails CI instead of passing with fewer tests.
"""
import pathlib
import re
import sys

allowed = set()
for line in (pathlib.Path(__file__).parent / "no-tests.txt").read_text().splitlines():
    name = line.split("#", 1)[0].strip()
    if name:
        allowed.add(name)

counts = []  # (binary, tests run)
current = None
for line in sys.stdin:
    line = line.rstrip("\n")
    m = re.match(r"\s*Running (?:unittests )?(\S+) \(([^)]+)\)", line)
    if m:
        # `src/lib.rs (target/debug/deps/fal_models-0123abcd)`: crate name from the file.
        crate = re.sub(r"-[0-9a-f]{16}$", "", pathlib.Path(m.group(2)).name)
        current = f"{crate} {m.group(1)}"
        continue
    m = re.match(r"\s*Doc-tests (\S+)", line)
    if m:
        current = f"{m.group(1)} doc-tests"
        continue
    m = re.match(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", line)
    if m and current is not None:
        counts.append((current, int(m.group(1)) + int(m.group(2))))
        current = None

if not counts:
    print("test-counts: no `cargo test` output on stdin", file=sys.stderr)
    sys.exit(1)
width = max(len(name) for name, _ in counts)
empty = []
for name, n in counts:
    print(f"{name:<{width}}  {n:>5}")
    if n == 0 and name not in allowed:
        empty.append(name)
print(f"{len(counts)} test binaries, {sum(n for _, n in counts)} tests")
stale = sorted(allowed - {name for name, _ in counts})
if stale:
    print("note: listed in .ci/no-tests.txt but not run: " + ", ".join(stale))
if empty:
    print("error: these binaries ran no test (list one in .ci/no-tests.txt only if it is meant to be empty):")
    for name in empty:
        print(f"  {name}")
    sys.exit(1)
