#!/usr/bin/env python3
"""peak_rss.py OUT COMMAND...: runs COMMAND (its output passes through), then writes the
peak resident set of that one process — from wait4, in KiB — to OUT and exits as it did."""
import os
import subprocess
import sys

process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
process.returncode = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(process.returncode)
