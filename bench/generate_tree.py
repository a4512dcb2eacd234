#!/usr/bin/env python3
"""Writes a tree of text files for the scan benchmark, deterministic from a seed, with
copies of key values planted in it.

  generate_tree.py OUT_DIR --mb 1024 --files 100000 --keys 1000 --planted 200 [--seed 1]

OUT_DIR/tree/ holds the files (source-like lines, JSON, env files, hex hashes and base64
blobs, some of them as long as keys); OUT_DIR/current.txt and OUT_DIR/previous.txt hold
--keys values each (`whsec_` + base64url of 32 bytes, as rotor's generate provider makes
them), one per line; --planted copies of each list are written into random files, one per
line, as env assignments, JSON members, YAML values or plain text.
"""
import argparse
import base64
import os
import random


def key_value(rng):
    return "whsec_" + base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("=")


def line_pool(rng):
    words = ("the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what all "
             "were we when your can said there use an each which she do how their if will up other about out many then them these so "
             "value config request handler retry timeout client server token user account service region bucket queue").split()
    pool = []
    for _ in range(4000):
        kind = rng.random()
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(3, 14)))
        if kind < 0.35:
            pool.append(sentence.capitalize() + ".")
        elif kind < 0.6:
            pool.append(f"    let {rng.choice(words)}_{rng.randint(0, 99)} = {rng.choice(words)}({rng.choice(words)}, {rng.randint(0, 9999)})  // {sentence}")
        elif kind < 0.75:
            pool.append(f'  "{rng.choice(words)}_{rng.randint(0, 99)}": "{sentence}",')
        elif kind < 0.85:
            pool.append(f"{rng.choice(words).upper()}_{rng.choice(words).upper()}={rng.choice(words)}-{rng.randint(0, 99999)}")
        elif kind < 0.93:
            pool.append(f"commit {rng.randbytes(20).hex()}  {sentence}")
        else:
            # Base64 runs as long as keys and longer: candidates the matcher must look at.
            pool.append("blob: " + base64.b64encode(rng.randbytes(rng.choice([36, 48, 96]))).decode())
    return pool


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=100000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--planted", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tree = os.path.join(args.out, "tree")
    os.makedirs(tree, exist_ok=True)
    current = [key_value(rng) for _ in range(args.keys)]
    previous = [key_value(rng) for _ in range(args.keys)]
    with open(os.path.join(args.out, "current.txt"), "w") as out:
        out.write("\n".join(current) + "\n")
    with open(os.path.join(args.out, "previous.txt"), "w") as out:
        out.write("\n".join(previous) + "\n")

    planted = {}
    for values in (current, previous):
        for _ in range(args.planted):
            planted.setdefault(rng.randrange(args.files), []).append(rng.choice(values))
    pool = line_pool(rng)
    average = args.mb * (1 << 20) // args.files
    extensions = [".txt", ".py", ".json", ".yaml", ".env", ".md", ".go", ".conf"]
    for index in range(args.files):
        folder = os.path.join(tree, f"d{index % 97:02d}", f"s{index % 13:02d}")
        os.makedirs(folder, exist_ok=True)
        size = int(average * rng.uniform(0.2, 1.8))
        lines, total = [], 0
        while total < size:
            line = rng.choice(pool)
            lines.append(line)
            total += len(line) + 1
        for value in planted.get(index, []):
            form = rng.randrange(4)
            text = [f"API_KEY_{rng.randint(0, 999)}={value}", f'  "secret": "{value}",', f"token: '{value}'", f"the key {value} was shared"][form]
            lines.insert(rng.randrange(len(lines) + 1), text)
        with open(os.path.join(folder, f"f{index:06d}{rng.choice(extensions)}"), "w") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
