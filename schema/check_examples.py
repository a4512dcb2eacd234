#!/usr/bin/env python3
"""Validates YAML documents against schema/rotor.schema.json (as yaml-language-server
would), printing one line per invalid document. Exit 0 when every document is valid.

  check_examples.py FILE_OR_FOLDER...
"""
import json
import os
import sys

import jsonschema
import yaml

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rotor.schema.json")


def files(paths):
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                for name in sorted(names):
                    if name.endswith((".yaml", ".yml")) and "deploy" not in root.split(os.sep):
                        yield os.path.join(root, name)
        else:
            yield path


def main():
    with open(SCHEMA) as f:
        validator = jsonschema.Draft7Validator(json.load(f))
    problems = 0
    checked = 0
    for path in files(sys.argv[1:]):
        with open(path) as f:
            for number, document in enumerate(yaml.safe_load_all(f), start=1):
                if document is None:
                    continue
                checked += 1
                for error in validator.iter_errors(document):
                    problems += 1
                    where = "/".join(str(p) for p in error.absolute_path)
                    print(f"{path}: document {number}: {where or '(root)'}: {error.message[:200]}")
    print(f"{checked} documents checked, {problems} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
