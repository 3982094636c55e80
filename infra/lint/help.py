#!/usr/bin/env python3
"""make help: every Makefile target with its one-line description.

Descriptions come from the Makefile's `## target: description` comments (a comment may run
over several `##` lines, and may describe two targets: `## a: ...; b: ...`). The line shown
is the description's first sentence. Targets without a comment are listed after, so a new
target's missing description shows.
"""
import re
import sys
from pathlib import Path

makefile = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "Makefile")
lines = makefile.read_text().splitlines()

targets = []
for line in lines:
    match = re.match(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)\s*:(?!=)", line)
    if match and "/" not in match.group(1) and match.group(1) not in targets and not match.group(1).startswith("."):
        targets.append(match.group(1))

comments, block = [], []
for line in lines + [""]:
    if line.startswith("## "):
        block.append(line[3:].strip())
    elif block:
        comments.append(" ".join(block))
        block = []

names = "|".join(re.escape(t) for t in sorted(targets, key=len, reverse=True))
described = {}
for text in comments:
    # "a: text; b: text" names two targets; split only before a known target name.
    for part in re.split(rf";\s+(?=(?:{names}):\s)", text):
        match = re.match(rf"^({names}):\s+(.*)$", part)
        if match:
            sentence = re.split(r"(?<=[.!?])\s+(?=[A-Za-z`])", match.group(2))[0]
            described[match.group(1)] = sentence

width = max(len(t) for t in targets)
print("Targets (make <target>):")
for target in targets:
    if target in described:
        print(f"  {target:<{width}}  {described[target]}")
undocumented = [t for t in targets if t not in described]
if undocumented:
    print("Steps without a description: " + ", ".join(undocumented))
