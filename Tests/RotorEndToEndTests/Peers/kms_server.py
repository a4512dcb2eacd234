#!/usr/bin/env python3
"""A key-management API on loopback, shaped like real vendor APIs, for rotor's tests.

  kms_server.py PORT_FILE LOG_FILE ADMIN_TOKEN

  POST   /v3/api_keys       {"name": N}  -> 201 {"api_key_id", "api_key" (the secret, only here), "name"}
  GET    /v3/api_keys                    -> {"result": [{"api_key_id", "name", "created_at", "last_used_at"}]}
  DELETE /v3/api_keys/ID                 -> 204, or 404 when already gone
  GET    /v1/me   (Bearer <api key>)     -> 200 for a live key (and records its use), else 401
  POST   /_control {"faults": [...], "last_used": {"ID": "ISO"}}   (no auth; tests only)
         a fault applies to the next /v3 request: {"status": 429, "retry_after": "1"},
         {"status": 500}, {"delay": 3}, {"malformed": true}, {"echo": true} (500 whose
         body repeats the newest key's secret, as careless APIs do), {"status": 502,
         "after_create": true} (a create that makes the key, then answers 502), {"big": N}
         (a create that makes the key, then answers N bytes), {"create_after": S} (a create
         that makes the key only after S seconds, then answers). "method": "POST" keeps a fault
         for the next request of that method; {"garble": true} makes the key, then answers
         with bytes that are not HTTP; {"id": ID} makes the next key with that id
  GET    /_keys                          -> the ids held (tests only)
/v3 requests need "Authorization: Bearer ADMIN_TOKEN". Every request is logged to LOG_FILE.
"""
import datetime
import http.server
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse

from loopback import serve

ADMIN = sys.argv[3]
LOCK = threading.Lock()
KEYS = []        # dicts: id, name, secret, created_at, last_used_at
FAULTS = []


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length", 0))
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def log(self):
        # "METHOD PATH @SECONDS": the monotonic time, for tests of how long rotor waited.
        with open(sys.argv[2], "a") as f:
            f.write(f"{self.command} {self.path} @{time.monotonic():.3f}\n")

    def fault(self):
        """Applies the next queued fault; True when it answered the request."""
        with LOCK:
            # A fault with "method" waits for a request of that method (a create's fault
            # must not be spent on the lookup rotor makes between two creates).
            index = next((i for i, f in enumerate(FAULTS) if f.get("method", self.command) == self.command), None)
            fault = FAULTS.pop(index) if index is not None else None
        if not fault:
            return False
        if "delay" in fault:
            time.sleep(fault["delay"])
            return False
        if "answer_late" in fault:
            # The vendor does the work at once and answers late: a create exists before
            # the client gives up waiting for it.
            self.handle_v3(answer_after=fault["answer_late"])
            return True
        if fault.get("after_create") or "big" in fault or "create_after" in fault or fault.get("garble") or "id" in fault:
            self.handle_v3(after_status=fault.get("status") if fault.get("after_create") else None,
                           big=fault.get("big"), create_after=fault.get("create_after", 0), garble=fault.get("garble"), key_id=fault.get("id"))
            return True
        if fault.get("malformed"):
            self.handle_v3(malformed=True)
            return True
        if fault.get("echo"):
            self.body()
            with LOCK:
                leaked = KEYS[-1]["secret"] if KEYS else "none"
            # Echoes the newest key's secret and the admin token it was sent: both must be masked.
            self.reply(500, {"error": f"internal error while handling key {leaked} (request by {self.headers.get('Authorization')})"})
            return True
        headers = {"Retry-After": fault["retry_after"]} if "retry_after" in fault else {}
        self.body()
        self.reply(fault["status"], {"error": "injected"}, headers)
        return True

    def authorized(self):
        return self.headers.get("Authorization") == f"Bearer {ADMIN}"

    def handle_v3(self, malformed=False, answer_after=0, after_status=None, big=None, create_after=0, garble=False, key_id=None):
        if not self.authorized():
            self.body()
            return self.reply(401, {"error": "bad admin token"})
        parts = self.path.strip("/").split("/")
        if self.command == "POST" and parts == ["v3", "api_keys"]:
            request = self.body()
            time.sleep(create_after)
            key = {"id": key_id or "key_" + secrets.token_hex(6), "name": request.get("name", ""), "secret": "kms_" + secrets.token_urlsafe(24),
                   "created_at": now(), "last_used_at": None}
            with LOCK:
                KEYS.append(key)
            time.sleep(answer_after)
            if after_status:
                return self.reply(after_status, {"error": "upstream failed"})
            if garble:
                # Not HTTP at all (curl: "Received HTTP/0.9 when not allowed").
                self.wfile.write(b"garbage from a broken proxy\r\n\r\n")
                self.close_connection = True
                return
            if big:
                return self.reply(201, raw=b'{"pad": "' + b"x" * big + b'"}')
            if malformed:
                return self.reply(201, raw=b'{"api_key_id": "' + key["id"].encode() + b'", "api_key": ')
            return self.reply(201, {"api_key_id": key["id"], "api_key": key["secret"], "name": key["name"]})
        if self.command == "GET" and parts == ["v3", "api_keys"]:
            with LOCK:
                result = [{"api_key_id": k["id"], "name": k["name"], "created_at": k["created_at"], "last_used_at": k["last_used_at"]} for k in KEYS]
            return self.reply(200, {"result": result})
        if self.command == "DELETE" and len(parts) == 3 and parts[:2] == ["v3", "api_keys"]:
            key_id = urllib.parse.unquote(parts[2])
            with LOCK:
                before = len(KEYS)
                KEYS[:] = [k for k in KEYS if k["id"] != key_id]
                gone = before != len(KEYS)
            return self.reply(204) if gone else self.reply(404, {"error": "no such key"})
        self.reply(404, {"error": "no such endpoint"})

    def route(self):
        self.log()
        if self.path == "/_control":
            request = self.body()
            with LOCK:
                FAULTS.extend(request.get("faults", []))
                for key in KEYS:
                    if key["id"] in request.get("last_used", {}):
                        key["last_used_at"] = request["last_used"][key["id"]]
            return self.reply(200, {"ok": True})
        if self.path == "/_keys":
            with LOCK:
                return self.reply(200, [k["id"] for k in KEYS])
        if self.path == "/v1/me":
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            with LOCK:
                match = [k for k in KEYS if k["secret"] == token]
                for key in match:
                    key["last_used_at"] = now()
            return self.reply(200 if match else 401, {"ok": bool(match)})
        if self.path.startswith("/v3/"):
            if self.fault():
                return
            return self.handle_v3()
        self.reply(404, {"error": "no such endpoint"})

    do_GET = do_POST = do_DELETE = route

    def log_message(self, *args):
        pass


serve(Handler, sys.argv[1])
