#!/usr/bin/env python3
"""A loopback HTTP server for rotor's health and verify checks.

  health_server.py PORT_FILE LOG_FILE

Binds 127.0.0.1 on a free port and writes the port to PORT_FILE. GET /status/N answers N;
GET /delay/MS/N waits MS milliseconds, then answers N; GET /fail-first/K answers 500 to
the first K requests for that path and 200 after; GET /reject/HASH[,HASH…]/N answers 401 when the
Authorization header's SHA-256 starts with one of the HASHes (revoked keys) and N otherwise; GET /redirect answers 302 to
/status/200; GET /big/N answers a body of N bytes. Every request is appended to
LOG_FILE (method, path, and header names only; for POST, the body). Stops when its parent closes stdin.
"""
import hashlib
import http.server
import sys
import threading
import time

from loopback import serve


COUNTS = {}
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        parts = self.path.strip("/").split("/")
        status = 200
        if parts[0] == "fail-first":
            with LOCK:
                COUNTS[self.path] = COUNTS.get(self.path, 0) + 1
                status = 500 if COUNTS[self.path] <= int(parts[1]) else 200
        elif parts[0] == "status":
            status = int(parts[1])
        elif parts[0] == "reject":
            auth = self.headers.get("Authorization") or ""
            digest = hashlib.sha256(auth.encode()).hexdigest()
            status = 401 if any(digest.startswith(revoked) for revoked in parts[1].split(",")) else int(parts[2])
        elif parts[0] == "delay":
            time.sleep(int(parts[1]) / 1000)
            status = int(parts[2])
        elif parts[0] == "redirect":
            self.send_response(302)
            self.send_header("Location", "/status/200")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        elif parts[0] == "big":
            self.send_response(200)
            self.send_header("Content-Length", parts[1])
            self.send_header("X-Rotor-Test", "big body")
            self.end_headers()
            self.wfile.write(b"x" * int(parts[1]))
            return
        with open(sys.argv[2], "a") as log:
            # Header names, and the Authorization value only as a SHA-256 prefix (a test
            # compares it with the key it expects; the log never holds a secret).
            auth = self.headers.get("Authorization")
            digest = f" auth=sha256:{hashlib.sha256(auth.encode()).hexdigest()[:12]}" if auth else ""
            log.write(f"{self.command} {self.path} {sorted(self.headers.keys())}{digest}\n")
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status = int(self.path.strip("/").split("/")[1]) if self.path.startswith("/status/") else 200
        with open(sys.argv[2], "a") as log:
            log.write(f"POST {self.path} {body.decode()}\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


serve(Handler, sys.argv[1])
