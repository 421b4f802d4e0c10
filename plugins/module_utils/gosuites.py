# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which `go test` suites a Go project has (the go_suites module, role project_test).

Reading the tree is :func:`scan_tree` (the only IO here: it lists directories and
reads the header of each ``.go`` file); everything else is a pure function of
what it returns, so the plan is unit-tested on layouts written in a temporary
directory and on the collection's fixture project.

A suite is a dict: ``name``, ``packages`` (go package patterns), ``tags`` (build
tags), ``run`` (a ``-run`` regexp), ``timeout``, ``env``, ``user`` (or None) and
``hardware`` (whether the LABKIT_* environment of :func:`hardware_env` is added).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

UNIT_TIMEOUT = '5m'
INTEGRATION_TIMEOUT = '10m'
DEFAULT_TIMEOUT = '10m'
DEFAULT_INTEGRATION_TAGS = ('integration', 'e2e')
SUITE_KEYS = ('name', 'packages', 'tags', 'run', 'timeout', 'env', 'user', 'hardware')
SUITE_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')

# Build constraints are evaluated for a Linux host of either architecture the
# collection supports, with cgo and the gc toolchain; go1.N release tags hold.
_LINUX_TAGS = frozenset(('linux', 'unix', 'cgo', 'gc'))
_ARCHES = ('amd64', 'arm64')
_KNOWN_ARCHES = frozenset(('386', 'amd64', 'arm', 'arm64', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le',
                           'ppc64', 'ppc64le', 'riscv64', 's390x', 'wasm'))


# ---------------------------------------------------------------- build constraints

_TOKEN_RE = re.compile(r'\s*(\(|\)|!|&&|\|\||[A-Za-z0-9_.]+)')


class ConstraintError(ValueError):
    pass


def parse_constraint(expr):
    """A ``//go:build`` expression -> a nested tuple tree (``('tag', x)``, ``('not', e)``, ``('and'|'or', a, b)``)."""
    tokens, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if not m:
            raise ConstraintError('cannot parse %r at %r' % (expr, expr[pos:]))
        tokens.append(m.group(1))
        pos = m.end()
    tokens.append(None)
    i = [0]

    def peek():
        return tokens[i[0]]

    def take():
        t = tokens[i[0]]
        i[0] += 1
        return t

    def p_or():
        left = p_and()
        while peek() == '||':
            take()
            left = ('or', left, p_and())
        return left

    def p_and():
        left = p_not()
        while peek() == '&&':
            take()
            left = ('and', left, p_not())
        return left

    def p_not():
        if peek() == '!':
            take()
            return ('not', p_not())
        t = take()
        if t == '(':
            e = p_or()
            if take() != ')':
                raise ConstraintError('unbalanced parentheses in %r' % expr)
            return e
        if t is None or t in (')', '&&', '||'):
            raise ConstraintError('unexpected %r in %r' % (t, expr))
        return ('tag', t)

    tree = p_or()
    if peek() is not None:
        raise ConstraintError('trailing %r in %r' % (peek(), expr))
    return tree


def plus_build_to_expr(lines):
    """Old ``// +build`` lines -> one ``//go:build`` expression (lines AND, spaces OR, commas AND)."""
    terms = []
    for line in lines:
        ors = ['(%s)' % ' && '.join(('!' + t[1:]) if t.startswith('!') else t for t in opt.split(','))
               for opt in line.split()]
        terms.append('(%s)' % ' || '.join(ors))
    return ' && '.join(terms)


def evaluate(tree, tags, arch):
    kind = tree[0]
    if kind == 'tag':
        t = tree[1]
        if t in tags or t in _LINUX_TAGS or t == arch:
            return True
        if t.startswith('go1.'):
            return True
        return False
    if kind == 'not':
        return not evaluate(tree[1], tags, arch)
    if kind == 'and':
        return evaluate(tree[1], tags, arch) and evaluate(tree[2], tags, arch)
    return evaluate(tree[1], tags, arch) or evaluate(tree[2], tags, arch)


def needs_tag(expr, tag):
    """True when a file with this constraint builds with ``tag`` and not without it (on linux/amd64 or arm64)."""
    if not expr:
        return False
    tree = parse_constraint(expr)
    return any(evaluate(tree, {tag}, arch) and not evaluate(tree, set(), arch) for arch in _ARCHES)


def header_constraint(text):
    """The build constraint of a Go file's header ('' when none): ``//go:build``, else ``// +build`` lines.

    Only the comments before the package clause count, as for the go command.
    """
    go_build, plus = None, []
    in_block = False
    for raw in text.splitlines():
        line = raw.strip()
        if in_block:
            if '*/' in line:
                in_block = False
            continue
        if not line:
            continue
        if line.startswith('/*'):
            in_block = '*/' not in line
            continue
        if not line.startswith('//'):
            break
        if line.startswith('//go:build ') and go_build is None:
            go_build = line[len('//go:build '):].strip()
        elif line.startswith('// +build '):
            plus.append(line[len('// +build '):].strip())
    if go_build is not None:
        return go_build
    return plus_build_to_expr(plus) if plus else ''


def _suffix_excluded(filename):
    """A file name's _GOOS/_GOARCH suffix that excludes it on Linux (foo_windows.go, bar_darwin_test.go)."""
    stem = filename[:-3]
    if stem.endswith('_test'):
        stem = stem[:-5]
    parts = stem.split('_')[1:]
    goos = ('aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'illumos', 'ios', 'js', 'netbsd', 'openbsd',
            'plan9', 'solaris', 'wasip1', 'windows', 'hurd', 'zos')
    if parts and parts[-1] in goos:
        return True
    if len(parts) >= 2 and parts[-2] in goos and parts[-1] in _KNOWN_ARCHES:
        return True
    return False


# ---------------------------------------------------------------- the tree

def read_module_path(gomod_text):
    for line in (gomod_text or '').splitlines():
        line = line.split('//')[0].strip()
        if line.startswith('module '):
            return line[len('module '):].strip().strip('"')
    return None


def scan_tree(root, header_bytes=8192):
    """Read a project tree: ``{'module': path, 'dirs': {reldir: [{'name', 'test', 'constraint'}]}}``.

    ``reldir`` is '' for the module root and 'a/b' below it. The go command's rules for ``./...``
    apply: directories named testdata or vendor, or starting with '.' or '_', and nested modules
    (a go.mod of their own) are left out. Only directories holding .go files are listed.
    """
    with open(os.path.join(root, 'go.mod'), 'rb') as f:
        module_path = read_module_path(f.read().decode('utf-8', 'replace'))
    dirs = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root).replace(os.sep, '/')
        rel = '' if rel == '.' else rel
        keep = []
        for d in sorted(dirnames):
            if d.startswith(('.', '_')) or d in ('testdata', 'vendor'):
                continue
            if os.path.exists(os.path.join(dirpath, d, 'go.mod')):
                continue
            keep.append(d)
        dirnames[:] = keep
        files = []
        for name in sorted(filenames):
            if not name.endswith('.go') or name.startswith(('.', '_')):
                continue
            try:
                with open(os.path.join(dirpath, name), 'rb') as f:
                    head = f.read(header_bytes).decode('utf-8', 'replace')
            except (IOError, OSError):
                head = ''
            files.append({'name': name, 'test': name.endswith('_test.go'), 'constraint': header_constraint(head),
                          'excluded': _suffix_excluded(name)})
        if files:
            dirs[rel] = files
    return {'module': module_path, 'dirs': dirs}


# ---------------------------------------------------------------- patterns

def pattern_regex(rel_pattern):
    """A relative package pattern without './' ('...', 'a/...', 'cmd/.../x') -> a regexp over reldirs."""
    if rel_pattern in ('', '.'):
        return re.compile(r'^$')
    if rel_pattern == '...':
        return re.compile(r'^.*$')
    trailing = rel_pattern.endswith('/...')
    body = rel_pattern[:-4] if trailing else rel_pattern
    rx = '.*'.join(re.escape(part) for part in body.split('...'))
    return re.compile('^' + rx + ('(/.*)?' if trailing else '') + '$')


def resolve_pattern(pattern, module_path, dirs):
    """The reldirs a ``go test`` pattern names, or (None, why) when it is not a pattern of this module."""
    if pattern in ('.', './...', '...') or pattern.startswith('./'):
        rel = pattern[2:] if pattern.startswith('./') else pattern
        if '..' in [p for p in rel.split('/') if p != '...']:
            return None, 'it leaves the module directory'
    elif module_path and (pattern == module_path or pattern.startswith(module_path + '/')):
        rel = pattern[len(module_path) + 1:] if pattern != module_path else ''
    else:
        return None, ('it is neither relative to the module (./dir, ./dir/...) nor under its module path %s'
                      % (module_path or '(go.mod has no module line)'))
    rx = pattern_regex(rel.rstrip('/'))
    return sorted(d for d in dirs if rx.match(d)), None


# ---------------------------------------------------------------- discovery

def tagged_dirs(tree, tag):
    """Directories with a *_test.go file that builds only with ``tag``."""
    found = []
    for rel, files in sorted(tree['dirs'].items()):
        for f in files:
            try:
                needed = f['test'] and not f['excluded'] and needs_tag(f['constraint'], tag)
            except ConstraintError as e:
                raise ConstraintError('./%s: %s' % ('/'.join(x for x in (rel, f['name']) if x), e))
            if needed:
                found.append(rel)
                break
    return found


def has_tree(tree, top):
    return any(d == top or d.startswith(top + '/') for d in tree['dirs'])


def find_suites(tree, integration_tags=DEFAULT_INTEGRATION_TAGS):
    """The suites the project has, and notes: (suites, found, notes).

    ``unit`` is always ``./...``. A separate suite per tag of ``integration_tags`` whose packages have
    *_test.go files behind it (``//go:build <tag>``), or that has a ``./<tag>`` tree: its
    packages are that tree (``./<tag>/...``) and the tagged directories outside it. The separate
    suites get the hardware environment; without any, the unit suite gets it.
    """
    suites, found = [], {}
    for tag in integration_tags:
        dirs = tagged_dirs(tree, tag)
        tree_there = has_tree(tree, tag)
        found[tag] = {'tagged': ['./' + d if d else '.' for d in dirs], 'tree': tree_there}
        if not dirs and not tree_there:
            continue
        packages = (['./%s/...' % tag] if tree_there else []) + [
            './' + d if d else '.' for d in dirs if not (tree_there and (d == tag or d.startswith(tag + '/')))]
        suites.append(normalise({'name': tag, 'packages': packages, 'tags': [tag] if dirs else [],
                                 'timeout': INTEGRATION_TIMEOUT, 'hardware': True}))
    unit = normalise({'name': 'unit', 'packages': ['./...'], 'timeout': UNIT_TIMEOUT, 'hardware': not suites})
    notes = []
    if not suites:
        notes.append('no separate integration suite was found in this project (no *_test.go behind the build '
                     'tag%s %s, no %s tree): the unit suite (./...) runs with the hardware environment '
                     '(LABKIT_RDMA_*, LABKIT_ROOT), as root when the play becomes root'
                     % ('s' if len(integration_tags) > 1 else '', ' or '.join(integration_tags),
                        ' or '.join('./' + t for t in integration_tags)))
    return [unit] + suites, found, notes


def normalise(suite):
    s = dict(suite)
    s.setdefault('packages', ['./...'])
    s['packages'] = list(s.get('packages') or ['./...'])
    s['tags'] = list(s.get('tags') or [])
    s['run'] = s.get('run') or ''
    s['timeout'] = str(s.get('timeout') or DEFAULT_TIMEOUT)
    s['env'] = dict(s.get('env') or {})
    s['user'] = s.get('user') or None
    s['hardware'] = True if s.get('hardware') is None else bool(s['hardware'])
    return s


# ---------------------------------------------------------------- configured suites

def check_configured(suites, var):
    """Errors in the shape of configured suites (a list of strings, each naming ``var``)."""
    errors, seen = [], set()
    for i, s in enumerate(suites):
        where = '%s[%d]' % (var, i)
        if not isinstance(s, dict):
            errors.append('%s is %r, not a dict with a name and packages' % (where, s))
            continue
        unknown = sorted(set(s) - set(SUITE_KEYS))
        if unknown:
            errors.append('%s has unknown key%s %s (known: %s)' % (
                where, 's' if len(unknown) > 1 else '', ', '.join(unknown), ', '.join(SUITE_KEYS)))
        name = s.get('name')
        if not isinstance(name, str) or not SUITE_NAME_RE.match(name):
            errors.append('%s has name %r: give it a name of letters, digits, ".", "_" or "-" (it names its '
                          'report files)' % (where, name))
        elif name in seen:
            errors.append('%s repeats the suite name %s: give each suite its own name' % (where, name))
        else:
            seen.add(name)
        for key in ('packages', 'tags'):
            v = s.get(key)
            if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
                errors.append('%s: %s must be a list of strings, not %r' % (where, key, v))
    return errors


def check_patterns(patterns, tree, what, fix):
    """One error per pattern that names no package of the project: ``what`` names it, ``fix`` says the fix."""
    errors = []
    for pat in patterns:
        dirs, why = resolve_pattern(pat, tree['module'], tree['dirs'])
        if why:
            errors.append('%s: package pattern %s is not a package of this project (%s); %s' % (what, pat, why, fix))
        elif not dirs:
            errors.append('%s: package pattern %s matches no Go package of this project (%s); %s'
                          % (what, pat, _no_match_why(pat, tree), fix))
    return errors


def _no_match_why(pat, tree):
    rel = pat[2:] if pat.startswith('./') else pat
    top = rel.split('/')[0]
    if top and top != '...' and not has_tree(tree, top):
        return 'no directory ./%s with .go files' % top
    return 'no directory with .go files matches it'


def package_dirs_summary(tree, limit=8):
    dirs = sorted(tree['dirs'])
    shown = ['./' + d if d else '.' for d in dirs[:limit]]
    return ', '.join(shown) + (', ...' if len(dirs) > limit else '')


def plan_suites(tree, configured=None, only=None, packages=None, run='', extra_tags=None,
                integration_tags=DEFAULT_INTEGRATION_TAGS, var_prefix='project_test_'):
    """The suites to run: (suites, found, notes, errors). Nothing is read: ``tree`` is :func:`scan_tree`'s."""
    errors = []
    suites_var = var_prefix + 'suites'
    found_suites, found, notes = find_suites(tree, integration_tags)
    if configured:
        errors.extend(check_configured(configured, suites_var))
        if errors:
            return [], found, notes, errors
        suites = [normalise(s) for s in configured]
        notes = ['suites from %s: %s' % (suites_var, ', '.join(s['name'] for s in suites))]
        if not packages:
            for i, s in enumerate(suites):
                errors.extend(check_patterns(
                    s['packages'], tree, '%s[%d] (suite %s)' % (suites_var, i, s['name']),
                    'fix the packages of suite %s in %s, or set %s to [] to use the suites found in the '
                    'project (%s; its packages: %s)' % (
                        s['name'], suites_var, suites_var,
                        ', '.join('%s %s' % (f['name'], ' '.join(f['packages'])) for f in found_suites),
                        package_dirs_summary(tree))))
    else:
        suites = found_suites
    if packages:
        errors.extend(check_patterns(
            packages, tree, var_prefix + 'packages',
            'fix %s (or set it to [] to keep each suite\'s packages); the project\'s packages: %s'
            % (var_prefix + 'packages', package_dirs_summary(tree))))
    names = [s['name'] for s in suites]
    missing = [n for n in (only or []) if n not in names]
    if missing:
        errors.append('%s names suite%s %s that %s not exist; the suites are %s: fix %s (or set it to [] for all)'
                      % (var_prefix + 'only', 's' if len(missing) > 1 else '', ', '.join(missing),
                         'do' if len(missing) > 1 else 'does', ', '.join(names), var_prefix + 'only'))
    if errors:
        return [], found, notes, errors
    if only:
        suites = [s for s in suites if s['name'] in only]
    final = []
    for s in suites:
        s = dict(s)
        if packages:
            s['packages'] = list(packages)
        if run:
            s['run'] = run
        s['tags'] = s['tags'] + [t for t in (extra_tags or []) if t not in s['tags']]
        final.append(s)
    return final, found, notes, errors


# ---------------------------------------------------------------- hardware environment

def pick_device(rdma, wanted):
    """The RDMA device for the hardware tests: ``wanted`` when given, else the first with an ACTIVE port."""
    devices = (rdma or {}).get('devices') or {}
    if wanted:
        return wanted, devices.get(wanted)
    for name in sorted(devices):
        if any(p.get('state') == 'ACTIVE' for p in devices[name].get('ports') or []):
            return name, devices[name]
    return None, None


def hardware_env(rdma, wanted_device, uid):
    """(env, notes): LABKIT_RDMA_DEVICE, LABKIT_RDMA_NETDEV, LABKIT_RDMA_GID_INDEX from rdma_facts' labkit_rdma.

    ``uid`` is the user id the suites run as (None: unknown); LABKIT_ROOT is set per suite by
    :func:`suite_env`. A value that is not known is left out rather than set empty.
    """
    env, notes = {}, []
    name, dev = pick_device(rdma, wanted_device)
    if name is None:
        notes.append('no RDMA device with an ACTIVE port on the host: LABKIT_RDMA_DEVICE is not set '
                     '(add a soft-RoCE link: playbooks/dev-vm.yml, role labkit.ebpf_rdma.soft_roce)')
        return env, notes
    env['LABKIT_RDMA_DEVICE'] = name
    if dev is None:
        notes.append('RDMA device %s is not on the host (rdma_facts lists %s): LABKIT_RDMA_NETDEV and '
                     'LABKIT_RDMA_GID_INDEX are not set' % (name, ', '.join(sorted((rdma or {}).get('devices') or {}))
                                                            or 'none'))
        return env, notes
    ports = dev.get('ports') or []
    port = next((p for p in ports if p.get('state') == 'ACTIVE'), ports[0] if ports else {})
    netdev = port.get('netdev') or dev.get('netdev')
    if netdev:
        env['LABKIT_RDMA_NETDEV'] = netdev
    if port.get('ipv4_gid_index') is not None:
        env['LABKIT_RDMA_GID_INDEX'] = str(port['ipv4_gid_index'])
    else:
        notes.append('RDMA device %s has no IPv4-mapped GID: LABKIT_RDMA_GID_INDEX is not set (give %s an '
                     'IPv4 address)' % (name, netdev or 'its netdev'))
    return env, notes


FABRIC_NODE_KEYS = ('name', 'address', 'device', 'gid', 'gid_index')


def fabric_node_entry(name, node, rdma, rxe):
    """One element of LABKIT_FABRIC_NODES: {name, address, device, gid, gid_index}.

    ``node`` is the host's ``fabric_node`` fact (role fabric, same run) and wins; without it (a later run of
    test.yml) the values are read from the host's rdma_facts ``rdma`` for the device ``rxe``: its first port's
    IPv4-mapped RoCE v2 GID, whose IPv4 address is the node's fabric address. A value not known is None.
    """
    node = node or {}
    entry = dict.fromkeys(FABRIC_NODE_KEYS)
    entry['name'] = name
    if node:
        entry['address'] = node.get('address')
        entry['device'] = node.get('rxe') or rxe or None
        entry['gid'] = node.get('gid')
        entry['gid_index'] = node.get('gid_index')
    else:
        entry['device'] = rxe or None
    dev = ((rdma or {}).get('devices') or {}).get(entry['device']) if entry['device'] else None
    ports = (dev or {}).get('ports') or []
    port = ports[0] if ports else {}
    if entry['gid_index'] is None:
        entry['gid_index'] = port.get('ipv4_gid_index')
    gid = next((g for g in port.get('gids') or [] if g.get('index') == entry['gid_index']), None) \
        if entry['gid_index'] is not None else None
    if entry['gid'] is None and gid:
        entry['gid'] = gid.get('gid')
    if entry['address'] is None and gid and gid.get('ip_version') == 4:
        entry['address'] = gid.get('ip')
    if entry['gid_index'] is not None:
        entry['gid_index'] = int(entry['gid_index'])
    return entry


def fabric_env(fabric):
    """(env, notes): LABKIT_FABRIC_SELF, LABKIT_FABRIC_NODES, LABKIT_FABRIC_DEVICE for a node of a fabric.

    ``fabric`` is ``{self, rxe, nodes: [{name, node, rdma}, ...]}`` with the nodes in the fabric's order (the
    group's); a host that is not one of the nodes (or no fabric: ``{}``) gets no variable at all.
    LABKIT_FABRIC_NODES is a compact JSON list of :func:`fabric_node_entry` dicts, in node order.
    """
    fabric = fabric or {}
    me = fabric.get('self') or ''
    rows = fabric.get('nodes') or []
    names = [r.get('name') for r in rows]
    if not me or me not in names:
        return {}, []
    rxe = fabric.get('rxe') or ''
    nodes = [fabric_node_entry(r.get('name'), r.get('node'), r.get('rdma'), rxe) for r in rows]
    notes = []
    incomplete = [n['name'] for n in nodes if None in (n['address'], n['device'], n['gid'], n['gid_index'])]
    if incomplete:
        notes.append('fabric node(s) %s have no fabric address, device or IPv4-mapped GID (device %s): the '
                     'cross-node tests will say so (run playbooks/dev-vm.yml with the fabric inventory: role '
                     'labkit.ebpf_rdma.fabric)' % (', '.join(incomplete), rxe or 'unknown'))
    if len(nodes) < 2:
        notes.append('fabric: only %s of the fabric is in the play; LABKIT_FABRIC_NODES lists it alone' % me)
    mine = nodes[names.index(me)]
    env = {'LABKIT_FABRIC_SELF': me,
           'LABKIT_FABRIC_NODES': json.dumps(nodes, separators=(',', ':'))}
    if mine['device']:
        env['LABKIT_FABRIC_DEVICE'] = mine['device']
    return env, notes


def suite_env(suite, hw_env, uid):
    """A suite's own env over the hardware env (when the suite is a hardware one) and LABKIT_ROOT."""
    env = {}
    if suite['hardware']:
        env.update(hw_env)
        if uid is not None:
            runs_as_root = int(uid) == 0 and suite.get('user') in (None, 'root')
            env['LABKIT_ROOT'] = '1' if runs_as_root else '0'
    env.update(suite['env'])
    return env


# ---------------------------------------------------------------- test binaries (builds on the controller)

TEST_BINARY_SUFFIX = '.test'


def _test_file_builds(f, tags, arch):
    if not f['test'] or f['excluded']:
        return False
    if not f['constraint']:
        return True
    return evaluate(parse_constraint(f['constraint']), set(tags), arch)


def import_path(module_path, reldir):
    return module_path + ('/' + reldir if reldir else '') if module_path else ('./' + reldir if reldir else '.')


def suite_packages(tree, suite, arch):
    """(with_tests, without_tests): the reldirs a suite's patterns name, split by whether a *_test.go file of the
    package builds with the suite's tags on linux/``arch`` (a package without one is "[no test files]" for go test).
    """
    dirs = set()
    for pat in suite['packages']:
        found, _why = resolve_pattern(pat, tree['module'], tree['dirs'])
        dirs.update(found or [])
    with_tests, without = [], []
    for d in sorted(dirs):
        files = tree['dirs'][d]
        if any(_test_file_builds(f, suite['tags'], arch) for f in files):
            with_tests.append(d)
        elif any(not f['test'] and not f['excluded'] for f in files):
            without.append(d)
    return with_tests, without


def binary_names(reldirs, module_path=None):
    """reldir -> test binary file name, after the whole package path (never its last element alone).

    ``a/b/c`` -> ``a-b-c.test``; the module's root package -> ``<last element of the module path>.test``
    (``_root.test`` without one). Names that still collide (``a-b`` and ``a/b``) get a short hash of
    their reldir.
    """
    import hashlib
    root = (module_path or '').rstrip('/').split('/')[-1] or '_root'
    names = dict((d, (d.replace('/', '-') if d else root)) for d in reldirs)
    counts = {}
    for n in names.values():
        counts[n] = counts.get(n, 0) + 1
    out = {}
    for d, n in names.items():
        if counts[n] > 1:
            n = '%s-%s' % (n, hashlib.sha256(d.encode('utf-8')).hexdigest()[:8])
        out[d] = n + TEST_BINARY_SUFFIX
    return out


def plan_binaries(tree, suites, arch):
    """Add ``binaries`` ([{package, dir, pattern, name}]) and ``no_tests`` (import paths) to each suite (copies)."""
    out = []
    for s in suites:
        s = dict(s)
        with_tests, without = suite_packages(tree, s, arch)
        names = binary_names(with_tests, tree['module'])
        s['binaries'] = [{'package': import_path(tree['module'], d), 'dir': d, 'pattern': './' + d if d else '.',
                          'name': names[d]} for d in with_tests]
        s['no_tests'] = [import_path(tree['module'], d) for d in without]
        out.append(s)
    return out


# ---------------------------------------------------------------- test2json output -> the go test -json stream

def test_binary_args(suite, count=1):
    """The arguments go test gives a test binary for ``go test -json`` of this suite."""
    args = ['-test.v=test2json', '-test.paniconexit0', '-test.count=%d' % int(count), '-test.timeout=' + suite['timeout']]
    if suite.get('run'):
        args.append('-test.run=' + suite['run'])
    return args


def _event(action, package, **kw):
    import json
    ev = {'Action': action, 'Package': package}
    ev.update(kw)
    return json.dumps(ev, separators=(',', ':'))


def complete_stream(events_text, package, rc, elapsed):
    """Make ``go tool test2json -t -p PKG`` output of one test binary read like ``go test -json``'s for that package.

    test2json alone ends with the package's result (``pass``/``fail``) but without the ``ok``/``FAIL``
    line go test prints, with its own (conversion) time as ``Elapsed``, and with nothing at all when the
    binary died (panic, timeout, killed): then go test reports the package failed (and a test that printed
    its ``--- FAIL`` line). The same is done here from the exit status ``rc`` and the wall time ``elapsed`` of the run.
    Returns the list of lines.
    """
    import json
    lines = [ln for ln in (events_text or '').splitlines() if ln.strip()]
    terminal, term_ev = None, None
    reported, ended = [], set()
    for i, ln in enumerate(lines):
        try:
            ev = json.loads(ln)
        except ValueError:
            continue
        if ev.get('Test'):
            if ev.get('Action') == 'output' and (ev.get('Output') or '').lstrip('\x16').startswith(
                    '--- FAIL: %s (' % ev['Test']):
                reported.append(ev['Test'])
            elif ev.get('Action') in ('pass', 'fail', 'skip'):
                ended.add(ev['Test'])
        elif ev.get('Action') in ('pass', 'fail', 'skip'):
            terminal, term_ev = i, ev
    secs = '%.3fs' % float(elapsed or 0)
    if terminal is not None:
        action = term_ev['Action']
        if rc not in (0, None):
            action = 'fail'
        head, tail = lines[:terminal], lines[terminal + 1:]
    else:
        action, head, tail, term_ev = ('pass' if rc == 0 else 'fail'), lines, [], {}
        if not any(_action_of(ln) == 'start' for ln in head):
            head = [_event('start', package)] + head
    stamp = {'Time': term_ev['Time']} if 'Time' in term_ev else {}
    extra = []
    if action == 'fail':
        # a test whose "--- FAIL" line the binary printed before it died (a panic) has no fail event from
        # test2json reading a pipe; go test gives it one. A test that never printed one (killed by the
        # timeout) gets none, as with go test.
        for test in [t for t in reported if t not in ended]:
            extra.append(_event('fail', package, Test=test, Elapsed=0, **stamp))
        extra.append(_event('output', package, Output='FAIL\t%s\t%s\n' % (package, secs), **stamp))
    else:
        extra.append(_event('output', package, Output='ok  \t%s\t%s\n' % (package, secs), **stamp))
    extra.append(_event(action, package, Elapsed=round(float(elapsed or 0), 3), **stamp))
    return head + extra + tail


def _action_of(line):
    import json
    try:
        return json.loads(line).get('Action')
    except ValueError:
        return None


def no_test_files_stream(package):
    """What go test -json says for a package without test files."""
    return [_event('start', package), _event('output', package, Output='?   \t%s\t[no test files]\n' % package),
            _event('skip', package, Elapsed=0)]
