#!/usr/bin/env python3
"""Prints a code block of the original README (tests/readme/original_README.md)
exactly as it is printed there, so that tests run the README's own text.

  readme_snippet.py README HEADING [INDEX]

HEADING is the text of a markdown heading ("Getting Job Details"); the block
printed is the INDEX-th fenced block (from 0) after that heading and before
the next heading of the same or a higher level. A heading that is not found,
or too few blocks, is an error (exit 1) naming what is missing: a README that
changes under the tests fails them instead of testing something else.

Headings repeat in the README ("Getting Job Details" is under both "API
Endpoints" and "gRPC Endpoints"), so HEADING may be a path: "gRPC
Endpoints/Getting Job Details".
"""
import re
import sys

FENCE = re.compile(r"^\s*```")
HEADING = re.compile(r"^(#+)\s+(.*?)\s*$")


def blocks_under(lines, path):
    """The fenced blocks under the heading path, in order."""
    level_limit = 0
    start = 0
    for part in path:
        found = None
        for i in range(start, len(lines)):
            m = HEADING.match(lines[i])
            if not m:
                continue
            level = len(m.group(1))
            if level_limit and level <= level_limit:
                break  # left the section we were searching
            if m.group(2) == part:
                found = (i, level)
                break
        if found is None:
            raise LookupError("heading %r not found in the README" % "/".join(path))
        start, level_limit = found[0] + 1, found[1]
    end = len(lines)
    for i in range(start, len(lines)):
        m = HEADING.match(lines[i])
        if m and len(m.group(1)) <= level_limit:
            end = i
            break
    blocks, current, indent = [], None, ""
    for line in lines[start:end]:
        if FENCE.match(line):
            if current is None:
                indent = line[: len(line) - len(line.lstrip())]
                current = []
            else:
                blocks.append("".join(current))
                current = None
            continue
        if current is not None:
            # Blocks inside list items are indented; print them as a user
            # copies them (the list indentation removed).
            current.append(line[len(indent):] if line.startswith(indent) else line)
    return blocks


def snippet(readme_path, heading, index=0):
    with open(readme_path, encoding="utf-8") as f:
        lines = f.readlines()
    blocks = blocks_under(lines, heading.split("/"))
    if index >= len(blocks):
        raise LookupError("the README has %d code block(s) under %r, not %d" %
                          (len(blocks), heading, index + 1))
    return blocks[index]


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write(__doc__)
        return 2
    try:
        sys.stdout.write(snippet(argv[1], argv[2], int(argv[3]) if len(argv) == 4 else 0))
    except (LookupError, OSError) as e:
        sys.stderr.write("readme_snippet: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
