#!/usr/bin/env python3
"""Writes a synthetic rotor inventory, deterministic from a seed: N keys with their
providers, M consumers spread over them, and the env/JSON/YAML files they name.

  generate_inventory.py OUT_DIR --keys 1000 --consumers 10000 [--seed 1] [--no-targets]
      [--single-file] [--env-only] [--no-reload] [--health-url URL]

Policies go to OUT_DIR/policies/, manifests to OUT_DIR/consumers/, target files to
OUT_DIR/deploy/. With --single-file everything is one YAML file (for load benchmarks).
"""
import argparse
import os
import random


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--consumers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--single-file", action="store_true", help="one YAML file holding everything")
    parser.add_argument("--no-targets", action="store_true", help="do not write the target files")
    parser.add_argument("--env-only", action="store_true", help="every target an env file")
    parser.add_argument("--no-reload", action="store_true", help="consumers without reload commands")
    parser.add_argument("--health-url", help="every consumer gets this HTTP health check")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    policy = ["kind: RotationPolicy", "providers:"]
    policy += ["  local:", "    type: generate", '    format: { prefix: "whsec_", bytes: 32, encoding: base64url }']
    policy += ["  console:", "    type: manual", '    instructions: "Vendor Console > Settings > API Keys > Generate New API Key"']
    policy.append("keys:")
    for k in range(args.keys):
        provider = "console" if k % 5 == 4 else "local"
        policy += [
            f"  key-{k:05d}:",
            f"    provider: {provider}",
            f"    every: {rng.choice([30, 60, 90])}d",
            f"    grace: {rng.choice(['0s', '1h', '24h'])}",
            '    name: "{key}-{date}"',
            f"    description: synthetic key number {k} for the load benchmark",
        ]

    manifest = ["kind: ConsumerManifest", "consumers:"]
    files = []
    for c in range(args.consumers):
        key = f"key-{c % args.keys:05d}"
        kind = 0 if args.env_only else c % 3
        folder = f"deploy/svc-{c:05d}"
        manifest += [f"  svc-{c:05d}:", f"    uses: {key}", "    targets:"]
        if kind == 0:
            manifest += [f"      - env_file: ../{folder}/.env", "        var: API_KEY"]
            files.append((f"{folder}/.env", f"PORT={8000 + c % 1000}\nAPI_KEY=initial-{key}-secret-value\nLOG=info\n"))
        elif kind == 1:
            manifest += [f"      - json_file: ../{folder}/config.json", "        pointer: /auth/apiKey"]
            files.append((f"{folder}/config.json", f'{{"name": "svc-{c}", "auth": {{"apiKey": "initial-{key}-secret-value"}}}}\n'))
        else:
            manifest += [f"      - yaml_file: ../{folder}/values.yaml", "        path: auth.apiKey"]
            files.append((f"{folder}/values.yaml", f"replicas: 2\nauth:\n  apiKey: \"initial-{key}-secret-value\"\n"))
        if not args.no_reload:
            manifest += [f"    reload: [systemctl, restart, svc-{c:05d}]"]
        if args.health_url:
            manifest += [f"    health: {{ http: {{ url: \"{args.health_url}\", expect: 200, timeout: 5s }} }}"]

    os.makedirs(args.out, exist_ok=True)
    if args.single_file:
        # One file: paths must be relative to it, so the manifest's ../ becomes ./
        text = "\n".join(policy) + "\n---\n" + "\n".join(manifest).replace("../deploy/", "deploy/") + "\n"
        with open(os.path.join(args.out, "inventory.yaml"), "w") as f:
            f.write(text)
    else:
        os.makedirs(os.path.join(args.out, "policies"), exist_ok=True)
        os.makedirs(os.path.join(args.out, "consumers"), exist_ok=True)
        with open(os.path.join(args.out, "policies", "keys.yaml"), "w") as f:
            f.write("\n".join(policy) + "\n")
        with open(os.path.join(args.out, "consumers", "services.yaml"), "w") as f:
            f.write("\n".join(manifest) + "\n")
    if not args.no_targets:
        for path, text in files:
            full = os.path.join(args.out, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)


if __name__ == "__main__":
    main()
