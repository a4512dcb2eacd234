#!/usr/bin/env python3
"""type_at_prompt.py PROMPT TEXT COMMAND...: runs COMMAND on a pseudo-terminal, as a
person at a terminal would: waits until PROMPT appears on the screen, types TEXT and
Enter, then prints everything the terminal showed (the transcript) and exits as COMMAND
did. Exits 124 if PROMPT never appears within 60 s. Several prompts, answered in turn:
type_at_prompt.py PROMPT TEXT PROMPT TEXT ... -- COMMAND... (each PROMPT is looked for
after the previous answer). TEXT "^C" types Ctrl-C instead (no
Enter): the terminal sends SIGINT to COMMAND. The transcript ends with a line saying
whether the terminal echoes input after COMMAND exited ("echo: on" or "echo: off")."""
import os
import pty
import select
import sys
import termios
import time

if "--" in sys.argv:
    split = sys.argv.index("--")
    pairs, argv = sys.argv[1:split], sys.argv[split + 1:]
else:
    pairs, argv = sys.argv[1:3], sys.argv[3:]
answers = [(pairs[i].encode(), pairs[i + 1].encode()) for i in range(0, len(pairs), 2)]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
screen = b""
seen = 0  # the screen up to here was searched for an earlier prompt
typed = False
deadline = time.monotonic() + 60
while True:
    ready, _, _ = select.select([fd], [], [], 0.05)
    if ready:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    if not typed and answers[0][0] in screen[seen:]:
        prompt, text = answers.pop(0)
        seen = screen.index(prompt, seen) + len(prompt)
        os.write(fd, b"\x03" if text == b"^C" else text + b"\r")
        typed = not answers
        deadline = time.monotonic() + 60
    if not typed and time.monotonic() > deadline:
        os.kill(pid, 9)
        sys.stdout.write(screen.decode(errors="replace"))
        sys.exit(124)
_, status = os.waitpid(pid, 0)
try:
    echo = "on" if termios.tcgetattr(fd)[3] & termios.ECHO else "off"
except termios.error:
    echo = "unknown"
sys.stdout.write(screen.decode(errors="replace") + f"\necho: {echo}\n")
sys.exit(os.waitstatus_to_exitcode(status))
