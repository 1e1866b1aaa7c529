#!/usr/bin/env python3
"""soak-check.py - the invariant checks of tests/soak/soak.sh, and its slow writer.

The soak's workers write what they do, one line per event, each into a log of
its own (LOGDIR/*.log), always BEFORE the operation for what they attempt and
AFTER it for what they were told:

  A NAME SHA SIZE   a publish of NAME (repo/tag) with this content starts
  K NAME            it was acknowledged (close() or regctl publish gave 0,
                    or, for an upstream tag, the registry took the push)
  F NAME RC         it failed (not acknowledged)
  X NAME            its writer was killed by the soak (SIGKILL)
  R NAME            regctl rm of NAME starts (it may disappear from now on)
  Y NAME            regctl yank of NAME starts
  OP KIND RESULT    an operation, for the figures (ignored here)

The daemon's state is one line in STATE: "up N" or "down N", N counting the
mounts. A read that fails while the state changed (or was "down") is
inconclusive: the daemon was killed under it. Any other failed read of an
acknowledged tag, not removed, is a violation; a read that succeeds with the
wrong bytes is always one.

  soak-check.py full LOGDIR MNT STATE LSJSON BEFORE
      BEFORE: the acknowledged names of a parse done before LSJSON, the
      output of `regctl ls --all --json`, was taken. Checks: every tag the catalog has under the
      soak's repositories was attempted with exactly that digest and size
      (no partial, no unknown tag); every tag acknowledged before LSJSON was
      taken and not removed is in it; every name listed under registry/ of
      those repositories was attempted, with that size; every acknowledged
      tag (and every present unacknowledged one, a writer killed after its
      seal) reads back whole with its digest, and its user.regfs.digest.
  soak-check.py parse LOGDIR
      the acknowledged set, for the first parse: prints the names, one a line.
  soak-check.py sample LOGDIR MNT STATE PREFIX N
      read N random acknowledged tags whose name starts with PREFIX.
  soak-check.py write DEST SRC CHUNK DELAY_MS
      copy SRC to DEST in CHUNK-byte writes DELAY_MS apart (a writer slow
      enough to be killed in the middle), then close.

Output: "VIOLATION: ..." lines for violations, "NOTE: ..." for what is
inconclusive, then one "RESULT ..." line of counts. Exit status 0 unless
the helper itself failed (2).
"""
import errno
import hashlib
import json
import os
import random
import sys
import time


def parse(logdir):
    att, acked, failed, killed, removed, yanked = {}, set(), set(), set(), set(), set()
    for name in sorted(os.listdir(logdir)):
        if not name.endswith('.log'):
            continue
        with open(os.path.join(logdir, name), errors='replace') as f:
            for line in f:
                w = line.split()
                if len(w) < 2:
                    continue
                k = w[0]
                if k == 'A' and len(w) >= 4:
                    att[w[1]] = (w[2], int(w[3]))
                elif k == 'K':
                    acked.add(w[1])
                elif k == 'F':
                    failed.add(w[1])
                elif k == 'X':
                    killed.add(w[1])
                elif k == 'R':
                    removed.add(w[1])
                elif k == 'Y':
                    yanked.add(w[1])
    return {'att': att, 'acked': acked, 'failed': failed, 'killed': killed,
            'removed': removed, 'yanked': yanked}


def state(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return 'unknown'


def read_tag(mnt, name):
    """(sha hex, size, xattr digest) or raises OSError."""
    path = os.path.join(mnt, 'registry', name)
    h = hashlib.sha256()
    n = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
    finally:
        os.close(fd)
    try:
        x = os.getxattr(path, 'user.regfs.digest').decode(errors='replace')
    except OSError as e:
        x = 'error:' + errno.errorcode.get(e.errno, str(e.errno))
    return h.hexdigest(), n, x


class Checker:
    def __init__(self, logdir, mnt, statefile):
        self.logdir, self.mnt, self.statefile = logdir, mnt, statefile
        self.violations = 0
        self.notes = 0
        self.reads = 0
        self.inconclusive = 0
        self.excused = 0

    def violation(self, msg):
        self.violations += 1
        print('VIOLATION: ' + msg, flush=True)

    def note(self, msg):
        self.notes += 1
        print('NOTE: ' + msg, flush=True)

    def check_read(self, name, sha, size):
        """Read NAME; it must be whole (sha, size) or fail for a reason."""
        s1 = state(self.statefile)
        try:
            got, n, x = read_tag(self.mnt, name)
        except OSError as e:
            s2 = state(self.statefile)
            err = errno.errorcode.get(e.errno, str(e.errno))
            if s1 != s2 or not s1.startswith('up'):
                self.inconclusive += 1
                return
            # Removed (or being removed) since the caller's parse?
            if name in parse(self.logdir)['removed']:
                self.excused += 1
                return
            self.violation('%s: acknowledged, not removed, read fails: %s (daemon %s)'
                           % (name, err, s1))
            return
        self.reads += 1
        if got != sha or n != size:
            self.violation('%s: read %d bytes sha256:%s, published %d bytes sha256:%s (daemon %s -> %s)'
                           % (name, n, got, size, sha, s1, state(self.statefile)))
        elif x != 'sha256:' + sha and not x.startswith('error:'):
            self.violation('%s: user.regfs.digest is %s, content sha256:%s' % (name, x, sha))

    def result(self, extra=''):
        print('RESULT violations=%d reads=%d inconclusive=%d excused=%d%s'
              % (self.violations, self.reads, self.inconclusive, self.excused, extra), flush=True)


def in_scope(name, prefixes):
    return any(name.startswith(p) for p in prefixes)


def cmd_full(logdir, mnt, statefile, lsjson, before):
    c = Checker(logdir, mnt, statefile)
    acked_before = set()
    with open(before) as f:
        acked_before = {ln.strip() for ln in f if ln.strip()}
    with open(lsjson) as f:
        ls = json.load(f)
    # The listing of the mount, then the parse: whatever is listed was
    # attempted before it was listed, so the parse has its A line.
    prefixes = ('soak/', 'remote/')
    listed = {}
    reg = os.path.join(mnt, 'registry')
    for top in ('soak', 'remote'):
        for root, dirs, files in os.walk(os.path.join(reg, top)):
            for fn in files:
                p = os.path.join(root, fn)
                name = os.path.relpath(p, reg)
                try:
                    listed[name] = os.lstat(p).st_size
                except OSError:
                    listed[name] = None
    p = parse(logdir)
    att = p['att']
    catalog = {}
    for e in ls:
        name = e['repository'] + '/' + e['tag']
        if not in_scope(name, prefixes):
            continue
        catalog[name] = e
        if name not in att:
            c.violation('%s: in the catalog, never attempted (digest %s, %s bytes)'
                        % (name, e['digest'], e['size']))
            continue
        sha, size = att[name]
        if e['digest'] != 'sha256:' + sha or e['size'] != size:
            c.violation('%s: in the catalog as %s, %s bytes; published sha256:%s, %d bytes (partial?)'
                        % (name, e['digest'], e['size'], sha, size))
    for name in sorted(acked_before):
        if not in_scope(name, prefixes) or name.startswith('remote/'):
            continue
        if name not in catalog and name not in p['removed']:
            c.violation('%s: acknowledged, not removed, missing from the catalog' % name)
    for name, size in sorted(listed.items()):
        if name not in att:
            c.violation('%s: listed under registry/, never attempted' % name)
        elif size is not None and size != att[name][1]:
            c.violation('%s: listed with %d bytes, published %d' % (name, size, att[name][1]))
    # Reads: every acknowledged tag not removed, and every tag present
    # without an acknowledgement (a writer killed after its seal).
    todo = set(n for n in p['acked'] if n not in p['removed'])
    todo |= set(n for n in catalog if n in att and n not in p['removed'])
    unacked_present = sorted(n for n in catalog if n in att and n not in p['acked'])
    for name in sorted(todo):
        if name not in att:
            continue
        sha, size = att[name]
        c.check_read(name, sha, size)
    c.result(' catalog=%d listed=%d unacked_present=%d killed_writers=%d'
             % (len(catalog), len(listed), len(unacked_present), len(p['killed'])))


def cmd_sample(logdir, mnt, statefile, prefix, n):
    c = Checker(logdir, mnt, statefile)
    p = parse(logdir)
    names = sorted(x for x in p['acked'] if x.startswith(prefix) and x not in p['removed']
                   and x in p['att'])
    if names:
        for name in random.sample(names, min(n, len(names))):
            sha, size = p['att'][name]
            c.check_read(name, sha, size)
    c.result()


def cmd_write(dest, src, chunk, delay_ms):
    with open(src, 'rb') as s:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            while True:
                b = s.read(chunk)
                if not b:
                    break
                os.write(fd, b)
                time.sleep(delay_ms / 1000.0)
        finally:
            os.close(fd)


def main(argv):
    try:
        if argv[1] == 'full' and len(argv) == 7:
            cmd_full(argv[2], argv[3], argv[4], argv[5], argv[6])
        elif argv[1] == 'parse' and len(argv) == 3:
            for name in sorted(parse(argv[2])['acked']):
                print(name)
        elif argv[1] == 'sample' and len(argv) == 7:
            cmd_sample(argv[2], argv[3], argv[4], argv[5], int(argv[6]))
        elif argv[1] == 'write' and len(argv) == 6:
            cmd_write(argv[2], argv[3], int(argv[4]), int(argv[5]))
        else:
            sys.exit(__doc__)
    except OSError as e:
        print('soak-check.py: %s' % e, file=sys.stderr)
        return 1 if argv[1] == 'write' else 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
