#!/usr/bin/env python3
"""Runs a command under a systemd unit's system call filter, as systemd would load it, without
systemd: libseccomp (the library systemd itself uses) through ctypes. Usage:
  seccomp-run.py 'SystemCallFilter=@system-service' 'SystemCallFilter=~@privileged @resources' \
                 'SystemCallErrorNumber=EPERM' -- cmd args...
Each SystemCallFilter= line as the unit has it: the first one without ~ makes an allow list, a ~ line
removes its calls from it (systemd's rule for a mix of both); the groups (@name) are expanded by
`systemd-analyze syscall-filter`, so they are the installed systemd's own. Anything else fails with
SystemCallErrorNumber (EPERM unless given)."""
import ctypes, errno, os, subprocess, sys

sep = sys.argv.index('--')
lines, command = sys.argv[1:sep], sys.argv[sep + 1:]
cache = {}


def expand(name):
    if not name.startswith('@'):
        return {name}
    if name not in cache:
        out = subprocess.run(['systemd-analyze', 'syscall-filter', name], capture_output=True, text=True, check=True).stdout
        names = set()
        for line in out.splitlines()[1:]:
            item = line.strip()
            if item and not item.startswith('#'):
                names |= expand(item)
        cache[name] = names
    return cache[name]


allowed, denied, error = set(), set(), 'EPERM'
for line in lines:
    key, _, value = line.partition('=')
    if key == 'SystemCallErrorNumber':
        error = value
    elif key == 'SystemCallFilter':
        words = value[1:].split() if value.startswith('~') else value.split()
        target = denied if value.startswith('~') else allowed
        for word in words:
            target |= expand(word)
    else:
        sys.exit(f'seccomp-run: not a filter line: {line}')
if not allowed:
    sys.exit('seccomp-run: only allow-list filters are supported (a SystemCallFilter= without ~)')

lib = ctypes.CDLL('libseccomp.so.2')
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
SCMP_ACT_ALLOW = 0x7FFF0000
ctx = ctypes.c_void_p(lib.seccomp_init(ctypes.c_uint32(0x00050000 | getattr(errno, error))))
for name in sorted(allowed - denied):
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr >= 0:  # names of other architectures (or newer kernels) resolve to nothing: systemd skips them too
        lib.seccomp_rule_add(ctx, ctypes.c_uint32(SCMP_ACT_ALLOW), ctypes.c_int(nr), ctypes.c_uint(0))
if lib.seccomp_load(ctx) != 0:
    sys.exit('seccomp-run: seccomp_load failed')
os.execvp(command[0], command)
