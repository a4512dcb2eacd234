#!/usr/bin/env python3
"""The reference for `rotor plan` at fleet scale: what a team would write by hand.

  plan_reference.py FOLDER

Loads FOLDER/policies/*.yaml and FOLDER/consumers/*.yaml with PyYAML's CSafeLoader,
reads every env-file target with python-dotenv, and prints the plan as JSON: for each key
(no state yet, so every key is due), the targets that would change with the fingerprint
of the value each holds now ("sha256:" + the first 12 hex digits, as rotor shows it).
bench/run checks that rotor's `plan --json` names the same targets and fingerprints.
"""
import glob
import hashlib
import json
import os
import sys

import yaml
from dotenv import dotenv_values


def load(pattern):
    documents = []
    for path in sorted(glob.glob(pattern)):
        with open(path) as file:
            documents.append((path, yaml.load(file, Loader=yaml.CSafeLoader)))
    return documents


def fingerprint(value):
    if value is None:
        return None
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def main():
    root = sys.argv[1]
    keys = {}
    for _, policy in load(os.path.join(root, "policies", "*.yaml")):
        keys.update(policy.get("keys", {}))

    updates = {name: [] for name in keys}
    for path, manifest in load(os.path.join(root, "consumers", "*.yaml")):
        folder = os.path.dirname(path)
        for consumer, spec in manifest.get("consumers", {}).items():
            if spec["uses"] not in keys:
                sys.exit(f"{path}: consumer {consumer} uses unknown key {spec['uses']}")
            for target in spec.get("targets", []):
                env_file = os.path.relpath(os.path.normpath(os.path.join(folder, target["env_file"])), root)
                values = dotenv_values(os.path.join(root, env_file))
                updates[spec["uses"]].append({
                    "consumer": consumer,
                    "target": f"{env_file}:{target['var']}",
                    "current": fingerprint(values.get(target["var"])),
                })

    plan = [{"key": name, "due": True, "updates": updates[name]} for name in sorted(keys)]
    json.dump(plan, sys.stdout)


if __name__ == "__main__":
    main()
