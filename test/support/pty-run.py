#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal and answers its prompts: for each [expect, send] pair it waits
until `expect` appears in the output, then types `send`. Prints the whole output and exits with the
command's exit code. Usage: pty-run.py '<json list of [expect, send]>' cmd args...
PTY_COLUMNS (default 80) and PTY_ROWS (default 24) set the terminal's size."""
import fcntl, json, os, pty, select, struct, sys, termios, time

script = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    size = struct.pack('HHHH', int(os.environ.get('PTY_ROWS', '24')), int(os.environ.get('PTY_COLUMNS', '80')), 0, 0)
    fcntl.ioctl(0, termios.TIOCSWINSZ, size)
    os.execvp(sys.argv[2], sys.argv[2:])

out = b''
def read_until(needle, timeout=15.0):
    global out
    deadline = time.time() + timeout
    while needle.encode() not in out:
        if time.time() > deadline:
            sys.stdout.write(out.decode(errors='replace'))
            sys.exit(f'timed out waiting for {needle!r}')
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break

for expect, send in script:
    read_until(expect)
    out_len = len(out)
    os.write(fd, send.encode())
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.exit(os.waitstatus_to_exitcode(status))
