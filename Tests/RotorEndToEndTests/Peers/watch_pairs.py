#!/usr/bin/env python3
"""Watches credential pairs while rotor rotates, the way a config watcher would: reads, in a
tight loop, every (id, secret) pair a consumer could assemble, and reports each distinct
pair it saw, in the order it first saw them.

  watch_pairs.py ROOT STOP_FILE OUT_FILE

Sources, relative to ROOT:
  same-env    deploy/pair/.env          KEY_ID and KEY_SECRET in one env file (python-dotenv)
  same-json   deploy/pair/config.json   /auth/id and /auth/secret in one JSON file
  split       deploy/split/id.env (KEY_ID) read first, then deploy/split/secret.env (KEY_SECRET)

A reader of two files cannot read both at one instant; reading the id first is how a
watcher that reloads on an id change behaves, and it is the order in which a secret newer
than its id is harmless while an id newer than its secret is the broken pair.
Runs until STOP_FILE exists, then writes {"reads": N, "pairs": {source: [[id, secret], ...]}}.
"""
import json
import os
import sys

import dotenv

root, stop, out = sys.argv[1], sys.argv[2], sys.argv[3]


def path(relative):
    return os.path.join(root, relative)


def env(relative, name):
    return dotenv.dotenv_values(path(relative)).get(name)


def same_env():
    values = dotenv.dotenv_values(path("deploy/pair/.env"))
    return values.get("KEY_ID"), values.get("KEY_SECRET")


def same_json():
    with open(path("deploy/pair/config.json")) as f:
        auth = json.load(f)["auth"]
    return auth["id"], auth["secret"]


def split():
    identifier = env("deploy/split/id.env", "KEY_ID")
    return identifier, env("deploy/split/secret.env", "KEY_SECRET")


sources = {"same-env": same_env, "same-json": same_json, "split": split}
pairs = {name: [] for name in sources}
reads = 0
while not os.path.exists(stop):
    for name, read in sources.items():
        pair = list(read())
        reads += 1
        if pair not in pairs[name]:
            pairs[name].append(pair)

with open(out + ".tmp", "w") as f:
    json.dump({"reads": reads, "pairs": pairs}, f)
os.replace(out + ".tmp", out)
