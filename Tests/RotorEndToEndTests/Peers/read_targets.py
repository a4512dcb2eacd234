#!/usr/bin/env python3
"""Reads the crash fixture's six targets with readers that share no code with rotor:
python-dotenv (and bash, which must agree with it), json, PyYAML, configparser, and the
plain file. Prints a JSON array of the six values, in RotationFixture.targetFiles' order.
A file that does not parse, or readers that disagree, exit 1."""
import configparser
import json
import os
import subprocess
import sys

import dotenv
import yaml

root = sys.argv[1]


def path(relative):
    return os.path.join(root, relative)


values = [
    dotenv.dotenv_values(path("deploy/c1/.env"))["API_KEY"],
    json.load(open(path("deploy/c2/config.json")))["auth"]["apiKey"],
    yaml.safe_load(open(path("deploy/c3/values.yaml")))["auth"]["apiKey"],
]
ini = configparser.ConfigParser(interpolation=None)
ini.read(path("deploy/c4/credentials"))
values.append(ini["svc"]["api_key"])
values.append(dotenv.dotenv_values(path("deploy/c5/.env"))["API_KEY"])
values.append(open(path("deploy/c5/store.txt")).read())
# bash reads the env files as a shell that sources them would: it must agree with dotenv.
for index, relative in ((0, "deploy/c1/.env"), (4, "deploy/c5/.env")):
    shell = subprocess.run(["bash", "-c", 'set -a; . "$1"; printf %s "$API_KEY"', "bash", path(relative)],
                           capture_output=True, text=True, check=True).stdout
    if shell != values[index]:
        sys.exit(f"{relative}: bash reads {shell!r}, python-dotenv {values[index]!r}")
json.dump(values, sys.stdout)
