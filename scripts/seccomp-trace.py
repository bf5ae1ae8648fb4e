#!/usr/bin/env python3
"""seccomp-trace.py: which system calls each denalid thread role makes, from `strace -f` output of a run with
DENALI_SECCOMP=trace (each thread marks its role with a failing openat(-1, "denali-seccomp-role:ROLE")), compared
with the allow lists of Sources/ThreadConfinement/ThreadRole.swift when --rules is given a dump of them.

    DENALI_SECCOMP=trace strace -f -qq -o /tmp/denalid.trace .build/debug/denalid run Guests/build/hello.elf
    python3 scripts/seccomp-trace.py /tmp/denalid.trace [more traces...]
"""
import collections
import re
import sys

line_pattern = re.compile(r'^(\d+)\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]')
marker = re.compile(r'openat\(-1, "denali-seccomp-role:([a-z-]+)"')

calls = collections.defaultdict(collections.Counter)
ioctls = collections.defaultdict(collections.Counter)
for path in sys.argv[1:]:
    roles = {}
    with open(path, errors='replace') as trace:
        for line in trace:
            found = marker.search(line)
            tid = line.split(None, 1)[0] if line[:1].isdigit() else None
            if found and tid:
                roles[(path, tid)] = found.group(1)
                continue
            match = line_pattern.match(line)
            if not match or 'resumed>' in line and not line.split(None, 1)[1].startswith('<...'):
                continue
            tid, name = match.groups()
            if '<... ' in line:
                continue  # the call was counted when it started
            role = roles.get((path, tid))
            if role is None or name in ('exited', 'killed'):
                continue
            calls[role][name] += 1
            if name == 'ioctl':
                request = re.match(r'^\d+\s+ioctl\([^,]+, ([A-Z0-9_]+|0x[0-9a-f]+|_IOC\([^)]*\))', line)
                if request:
                    ioctls[role][request.group(1)] += 1
for role in sorted(calls):
    print(f'{role}: ' + ' '.join(f'{name}({count})' for name, count in sorted(calls[role].items())))
    if ioctls[role]:
        print(f'  ioctl requests: ' + ' '.join(sorted(ioctls[role])))
