#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Validates output of `mydevctl --json` against its JSON Schema.

Usage: validate_json.py SCHEMA [--cover KIND,...] FILE...

Each FILE holds the standard output of one mydevctl run, one JSON object per
line; every line must be an object that the schema accepts, and no FILE may
be empty. With --cover, each KIND (a command name, or "error") must appear
in at least one object, so that every command's output was seen.

Prints one KTAP-like line per file and exits 1 on any failure. Needs the
jsonschema module (Debian: python3-jsonschema).
"""

import json
import sys

import jsonschema


# The definition in the schema's $defs of each kind of object.
BRANCHES = {
    "status": "status_line",
    "stats": "stats_line",
    "clear": "change_line",
    "resize": "change_line",
    "hangup": "change_line",
    "watch": "watch_line",
    "error": "error_line",
}


def kind_of(obj):
    """The command an object comes from, or "error"."""
    if not isinstance(obj, dict):
        return None
    if "error" in obj:
        return "error"
    return obj.get("command")


def explain(validator, schema, obj):
    """The errors of an object that the schema refuses, from the definition
    of its kind where it has one, so that they name the offending key."""
    branch = BRANCHES.get(kind_of(obj))
    if branch is None:
        return [jsonschema.exceptions.best_match(validator.iter_errors(obj))]
    sub = type(validator)({"$ref": f"#/$defs/{branch}", "$defs": schema["$defs"]})
    return sorted(sub.iter_errors(obj), key=lambda e: list(e.absolute_path))


def check_file(validator, schema, path, seen):
    """Returns the problems of one file; records the kinds it holds."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        return [f"cannot read it: {e}"]
    if not lines:
        return ["it is empty: the command printed nothing"]
    problems = []
    for number, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            problems.append(f"line {number} is not JSON ({e}): {line!r}")
            continue
        if validator.is_valid(obj):
            seen.add(kind_of(obj))
            continue
        for error in explain(validator, schema, obj):
            where = "/".join(str(p) for p in error.absolute_path) or "the object"
            message = error.message
            if len(message) > 200:
                message = message[:200] + "..."
            problems.append(f"line {number}: {where}: {message}")
    return problems


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    schema_path, args = argv[1], argv[2:]
    cover = []
    if args[:1] == ["--cover"] and len(args) >= 2:
        cover = [k for k in args[1].split(",") if k]
        args = args[2:]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)

    seen = set()
    passed = failed = 0
    for path in args:
        problems = check_file(validator, schema, path, seen)
        if problems:
            failed += 1
            print(f"not ok {path}")
            for problem in problems[:10]:
                print(f"# {problem}")
        else:
            passed += 1
            print(f"ok {path}")
    for kind in cover:
        if kind in seen:
            passed += 1
            print(f"ok output of {kind} seen")
        else:
            failed += 1
            print(f"not ok no valid output of {kind} among the files")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
