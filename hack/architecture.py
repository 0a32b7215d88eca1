#!/usr/bin/env python3
"""The rules of the source tree (README, Development), checked by `make test`:
- no import circles: no module uses a module that uses it, directly or through
  others (at every level: files, and folders within their parent);
- no two sibling modules whose names differ by one letter;
- no file longer than LINE_LIMIT lines before its tests;
- every folder of both crates has its line in the README's tree.
Usage: architecture.py [REPO]  (default: the repository this script is in)."""
import os, re, sys
from collections import defaultdict
from itertools import combinations

LINE_LIMIT = 600
CRATES = ['src', 'core/src']

def modules(src):
    mods = {}
    for dp, _, fs in os.walk(src):
        for f in fs:
            if not f.endswith('.rs'): continue
            p = os.path.join(dp, f); rel = os.path.relpath(p, src)[:-3].split(os.sep)
            if rel[-1] in ('mod', 'lib', 'main'): rel = rel[:-1]
            if 'tests' in rel: continue
            mods[tuple(rel)] = p
    return mods

def strip_tests(text):
    out, depth, skip = [], 0, False
    lines = text.split('\n'); i = 0
    while i < len(lines):
        l = lines[i]
        if re.match(r'\s*#\[cfg\(test\)\]', l):
            # skip the next item: to matching brace or ';'
            i += 1; d = 0; started = False
            while i < len(lines):
                d += lines[i].count('{') - lines[i].count('}')
                if '{' in lines[i]: started = True
                if (started and d <= 0) or (not started and lines[i].rstrip().endswith(';')):
                    break
                i += 1
            i += 1; continue
        out.append(re.sub(r'//.*', '', l)); i += 1
    return '\n'.join(out)

def expand_use(text):
    # crate::{a, b::{c}} -> crate::a crate::b::c  (one level of nesting is enough here)
    paths = []
    for m in re.finditer(r'\bcrate::((?:\w+::)*)\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}', text):
        pre = m.group(1)
        for part in re.split(r',(?![^{]*\})', m.group(2)):
            part = part.strip()
            if part: paths.append(pre + re.sub(r'\{.*', '', part))
    for m in re.finditer(r'\bcrate::((?:\w+::)*\w+)', text):
        paths.append(m.group(1))
    return paths

def resolve(mods, path):
    parts = [p for p in path.split('::') if p]
    for n in range(len(parts), 0, -1):
        if tuple(parts[:n]) in mods: return tuple(parts[:n])
    return None

def cycles(src):
    mods = modules(src)
    folders = {m[:k] for m in mods for k in range(len(m)) if m[:k] in mods}
    def node(m):
        return m + ('<mod>',) if m in folders else m
    g = defaultdict(set)
    for m, p in mods.items():
        t = strip_tests(open(p).read())
        # references to declared child modules by relative path
        for c in re.findall(r'^\s*(?:pub(?:\([\w:]+\))?\s+)?mod (\w+);', t, flags=re.M):
            t = re.sub(r'(?<![\w:])(?:self::)?' + c + r'::', 'crate::' + '::'.join(m + (c,)) + '::', t)
            t = re.sub(r'(?<=\buse )' + c + r'\b', 'crate::' + '::'.join(m + (c,)), t)
        for path in expand_use(t):
            tgt = resolve(mods, path)
            if tgt and tgt != m:
                g[node(m)].add(node(tgt))
        # super:: paths
        for sm in re.finditer(r'\bsuper::(\w+)', t):
            base = m[:-1]
            tgt = resolve(mods, '::'.join(base + (sm.group(1),)))
            if tgt and tgt != m: g[node(m)].add(node(tgt))
        for sm in re.finditer(r'\bsuper::\{([^}]*)\}', t):
            for part in sm.group(1).split(','):
                part = part.strip().split('::')[0]
                if not part: continue
                tgt = resolve(mods, '::'.join(m[:-1] + (part,)))
                if tgt and tgt != m: g[node(m)].add(node(tgt))
    found = False
    # levels: every prefix length (folders) and files
    maxd = max(len(node(m)) for m in mods)
    for depth in range(1, maxd + 1):
        h = defaultdict(set)
        for a, bs in g.items():
            for b in bs:
                # compare at the level of the common parent + 1
                k = 0
                while k < min(len(a), len(b)) and a[k] == b[k]: k += 1
                if k + 1 != depth: continue
                if len(a) <= k or len(b) <= k: continue  # ancestor relation
                h[a[:depth]].add(b[:depth])
        # find cycles via SCC
        idx, low, st, on, res, c = {}, {}, [], set(), [], [0]
        def sc(v):
            idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
            for w in h.get(v, ()):
                if w not in idx: sc(w); low[v] = min(low[v], low[w])
                elif w in on: low[v] = min(low[v], idx[w])
            if low[v] == idx[v]:
                comp = []
                while True:
                    w = st.pop(); on.discard(w); comp.append(w)
                    if w == v: break
                if len(comp) > 1: res.append(comp)
        sys.setrecursionlimit(10000)
        for v in list(h):
            if v not in idx: sc(v)
        for comp in res:
            found = True
            print('cycle (depth %d): %s' % (depth, ' <-> '.join('::'.join(x) for x in comp)))
            for a in comp:
                for b in h[a]:
                    if b in comp: print('   %s -> %s' % ('::'.join(a), '::'.join(b)))
    return found


def one_letter_apart(a, b):
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long = sorted([a, b], key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def names(src):
    bad = False
    for dp, dns, fns in os.walk(src):
        mods = {f[:-3] for f in fns if f.endswith('.rs') and f not in ('mod.rs', 'lib.rs', 'main.rs')}
        mods |= {d for d in dns if d != 'tests'}
        for a, b in combinations(sorted(mods), 2):
            if one_letter_apart(a, b):
                print(f'{dp}: sibling modules {a} and {b} differ by one letter')
                bad = True
    return bad


def lengths(src):
    bad = False
    for dp, _, fns in os.walk(src):
        for f in fns:
            if not f.endswith('.rs') or f == 'tests.rs' or dp.endswith('/tests'):
                continue
            path = os.path.join(dp, f)
            lines = open(path).read().split('\n')
            code = next((i for i, l in enumerate(lines) if l.startswith('#[cfg(test)]')), len(lines))
            if code > LINE_LIMIT:
                print(f'{path}: {code} lines before its tests (the limit is {LINE_LIMIT}): split it by topic')
                bad = True
    return bad


def readme_tree(repo):
    text = open(os.path.join(repo, 'README.md')).read()
    dev = text[text.index('## Development'):]
    if '```\n' not in dev:
        print('README.md: the Development section draws no tree')
        return True
    tree = dev[dev.index('```\n') + 4:]
    tree = tree[:tree.index('```')]
    listed = set()
    stack = []
    for line in tree.split('\n'):
        m = re.match(r'( *)(\S+)', line)
        if not m:
            continue
        depth = len(m.group(1)) // 2
        stack = stack[:depth] + [m.group(2).rstrip('/').rstrip(',')]
        listed.add('/'.join(stack))
    bad = False
    for crate in CRATES:
        for dp, dns, _ in os.walk(os.path.join(repo, crate)):
            for d in dns:
                rel = os.path.relpath(os.path.join(dp, d), repo)
                if d == 'tests' or os.path.basename(dp) == 'tests':
                    continue
                if rel.startswith('src/') and rel.count('/') > 2:
                    continue  # the tree goes two levels into the binary
                if rel.startswith('core/src/') and rel.count('/') > 2:
                    continue
                if rel not in listed:
                    print(f'README.md: the Development tree has no line for {rel}/')
                    bad = True
    return bad


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bad = False
    for crate in CRATES:
        src = os.path.join(repo, crate)
        if not os.path.isdir(src):
            continue
        bad |= cycles(src)
        bad |= names(src)
        bad |= lengths(src)
    bad |= readme_tree(repo)
    if not bad:
        print('source tree: no import circles, no near-twin names, no file past', LINE_LIMIT, 'lines, README tree complete')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
