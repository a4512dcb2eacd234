#!/usr/bin/env python3
"""What a command rotor runs can see of secrets: its own environment, and its parent's
(rotor's) /proc/PID/environ — read as raw bytes, or "denied" when the kernel refuses.

  dump_environment.py OUT_FILE
"""
import os
import sys

with open(sys.argv[1], "a") as out:
    out.write("own: " + repr(dict(os.environ)) + "\n")
    try:
        with open(f"/proc/{os.getppid()}/environ", "rb") as f:
            out.write("parent: " + repr(f.read()) + "\n")
    except OSError as error:
        out.write(f"parent: denied ({error.strerror})\n")
