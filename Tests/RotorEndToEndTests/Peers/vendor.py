#!/usr/bin/env python3
"""A vendor CLI for rotor's end-to-end tests: it issues API keys and keeps them in a JSON
file (VENDOR_DB), like a real key-management CLI would at its server.

  vendor.py create NAME      print {"AccessKey": {"AccessKeyId": ..., "SecretAccessKey": ...}}
  vendor.py delete ID        remove a key (idempotent)
  vendor.py list             print {"keys": [{"id": ..., "name": ...}]}
  vendor.py check            read a secret on stdin; exit 0 if it is a live key
  vendor.py put FILE         store stdin in FILE (a secrets-manager stand-in)
  vendor.py get FILE         print FILE
  vendor.py flaky MARKER     fail the first time (creating MARKER), succeed after

Knobs (environment): VENDOR_SECRET_PREFIX (default "vk-"), VENDOR_FAIL=create|delete|check,
VENDOR_KILL_PARENT_AFTER_CREATE=1 (SIGKILL rotor right after the key exists),
VENDOR_ECHO_SECRET=1 (failures print the secret on stderr, as careless vendors do),
VENDOR_DELETE_NOOP=1 (delete answers success and leaves the key live, as a vendor whose
delete is a no-op for some key types does), VENDOR_REVOKE_DELAY=SECONDS (a deleted key
still works that long: eventually consistent revocation), VENDOR_CHECK_ONCE=MARKER (check
accepts once, creating MARKER, and refuses every key after: a verifier that proves nothing),
VENDOR_ESC=1 (failure messages and new ids carry terminal escape sequences),
VENDOR_SECRET_SHAPE=short|hex|spaced (secrets no shape heuristic recognises: 5 letters and
digits, 40 hex digits, words with spaces). VENDOR_FAIL takes a comma-separated list;
create-after makes the key, then fails as if its answer was lost. VENDOR_REQUIRE_TOKEN=NAME:
create, delete and list refuse to work unless the account token variable NAME is set.
VENDOR_CREATE_DELAY=S: create waits S seconds before making the key (VENDOR_PID_FILE gets
its pid first). VENDOR_EXIT=N: the exit status of a failure (default 1). VENDOR_ID_HOLDS_SECRET=1: the new
key's id embeds its secret (=base64: its base64). VENDOR_LIST_NO_NAMES=1: list gives ids only. VENDOR_PRINT_FRAGMENT=1: create also prints
most of the new secret on stderr (a chatty CLI). With
VENDOR_ECHO_SECRET a failed delete says "cannot delete ID (secret S)" with the secret of
the key it was asked to delete.
"""
import base64
import json
import os
import secrets
import signal
import sys
import time

DB = os.environ["VENDOR_DB"]


def load():
    try:
        with open(DB) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"keys": []}


def save(db):
    tmp = DB + ".tmp"
    with open(tmp, "w") as f:
        json.dump(db, f)
    os.replace(tmp, DB)


def fail(what, secret=None):
    status = int(os.environ.get("VENDOR_EXIT", "1"))
    message = f"vendor: {what} refused"
    if os.environ.get("VENDOR_ESC"):
        message += " \x1b]0;owned-title\x07\x1b[2J\x1b[H"
    if secret and os.environ.get("VENDOR_ECHO_SECRET"):
        message += f" for key {secret}"
    print(message, file=sys.stderr)
    sys.exit(status)


def main():
    command = sys.argv[1]
    failing = set(os.environ.get("VENDOR_FAIL", "").split(","))
    db = load()
    required = os.environ.get("VENDOR_REQUIRE_TOKEN")
    if required and command in ("create", "delete", "list") and not os.environ.get(required):
        print(f"vendor: not logged in ({required} is not set)", file=sys.stderr)
        sys.exit(1)
    if command == "create":
        if os.environ.get("VENDOR_PID_FILE"):
            with open(os.environ["VENDOR_PID_FILE"], "w") as f:
                f.write(str(os.getpid()))
        time.sleep(float(os.environ.get("VENDOR_CREATE_DELAY", "0")))
        db = load()
        shape = os.environ.get("VENDOR_SECRET_SHAPE")
        if shape == "short":
            secret = secrets.choice("bcdfghjkmnpqrstvwxz") + secrets.token_hex(2)
        elif shape == "hex":
            secret = secrets.token_hex(20)
        elif shape == "spaced":
            secret = " ".join(secrets.choice(["amber", "violet", "cobalt", "quartz", "maple", "ember"]) + str(secrets.randbelow(100)) for _ in range(4))
        else:
            secret = os.environ.get("VENDOR_SECRET_PREFIX", "vk-") + secrets.token_urlsafe(24)
        if "create" in failing:
            fail("create", secret)
        after = "create-after" in failing
        key = {"id": "AK" + ("\x1b[2J" if os.environ.get("VENDOR_ESC") else "") + secrets.token_hex(8).upper(), "name": sys.argv[2], "secret": secret}
        holds = os.environ.get("VENDOR_ID_HOLDS_SECRET")
        if holds == "base64":
            key["id"] = "AK-" + base64.b64encode(secret.encode()).decode()
        elif holds:
            key["id"] = "AK-" + secret
        db["keys"].append(key)
        save(db)
        if after:
            # The answer is printed, then the CLI fails: its stdout holds the live key.
            print(json.dumps({"AccessKey": {"AccessKeyId": key["id"], "SecretAccessKey": secret}}))
            fail("create (after making the key)", secret)
        if os.environ.get("VENDOR_PRINT_FRAGMENT"):
            print(f"debug: issued key ending {secret[5:]}", file=sys.stderr)
        if os.environ.get("VENDOR_KILL_PARENT_AFTER_CREATE"):
            os.kill(os.getppid(), signal.SIGKILL)
        print(json.dumps({"AccessKey": {"AccessKeyId": key["id"], "SecretAccessKey": secret}}))
    elif command == "delete":
        if "delete" in failing:
            target = [k for k in db["keys"] if k["id"] == sys.argv[2]]
            if target and os.environ.get("VENDOR_ECHO_SECRET"):
                print(f"cannot delete {sys.argv[2]} (secret {target[0]['secret']})", file=sys.stderr)
                sys.exit(1)
            fail("delete", db["keys"][-1]["secret"] if db["keys"] else None)
        if os.environ.get("VENDOR_DELETE_NOOP"):
            return
        deleted = [k for k in db["keys"] if k["id"] == sys.argv[2]]
        db["keys"] = [k for k in db["keys"] if k["id"] != sys.argv[2]]
        delay = float(os.environ.get("VENDOR_REVOKE_DELAY", "0"))
        if delay > 0:
            db.setdefault("revoking", []).extend(
                {"secret": k["secret"], "until": str(time.time() + delay)} for k in deleted)
        save(db)
    elif command == "list":
        if os.environ.get("VENDOR_LIST_NO_NAMES"):
            print(json.dumps({"keys": [{"id": k["id"]} for k in db["keys"]]}))
        else:
            print(json.dumps({"keys": [{"id": k["id"], "name": k["name"]} for k in db["keys"]]}))
    elif command == "check":
        secret = sys.stdin.read()
        live = [k["secret"] for k in db["keys"]]
        live += [k["secret"] for k in db.get("revoking", []) if float(k["until"]) > time.time()]
        once = os.environ.get("VENDOR_CHECK_ONCE")
        if once and os.path.exists(once):
            fail("check", secret)
        if once:
            open(once, "w").close()
        if "check" in failing or secret not in live:
            fail("check", secret)
    elif command == "put":
        data = sys.stdin.read()
        with open(sys.argv[2], "w") as f:
            f.write(data)
    elif command == "flaky":
        if not os.path.exists(sys.argv[2]):
            open(sys.argv[2], "w").close()
            sys.exit(1)
    elif command == "get":
        with open(sys.argv[2]) as f:
            sys.stdout.write(f.read())
    else:
        sys.exit(64)


if __name__ == "__main__":
    main()
