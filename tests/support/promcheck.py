#!/usr/bin/env python3
"""promcheck.py FILE... - checks Prometheus text exposition format 0.0.4
strictly, as the lsmfs metrics promise it (exit 1 and a message per
problem):
  - every line is '# HELP name text', '# TYPE name type', another comment,
    blank, or a sample 'name{label="value",...} value [timestamp]';
  - every sample's family has one # HELP and one # TYPE, both before its
    first sample; a family's samples are contiguous (never interleaved
    with another family's);
  - counters end in _total; no two samples share a name and label set;
    values are floats; the text ends with a newline.
'-' reads stdin.  --expect-fail inverts the verdict (self-test)."""
import re
import sys

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r'^(%s)(\{(?:%s(?:,%s)*,?)?\})? (\S+)(?: (-?\d+))?$'
                    % (NAME, LABEL, LABEL))
TYPES = {'counter', 'gauge', 'histogram', 'summary', 'untyped'}


def family_of(name, types):
    for suf in ('_bucket', '_sum', '_count'):
        if name.endswith(suf) and types.get(name[:-len(suf)]) in (
                'histogram', 'summary'):
            return name[:-len(suf)]
    return name


def check(text):
    errs = []
    helps, types, seen, done, samples = {}, {}, set(), set(), set()
    current = None
    if text and not text.endswith('\n'):
        errs.append('no newline at the end')
    for no, line in enumerate(text.split('\n')[:-1], 1):
        where = 'line %d: ' % no
        if not line.strip():
            continue
        if line.startswith('#'):
            m = re.match(r'^# (HELP|TYPE) (%s)(?: (.*))?$' % NAME, line)
            if not m:
                continue  # a plain comment
            kind, name, rest = m.group(1), m.group(2), m.group(3) or ''
            if name in seen:
                errs.append(where + '%s for %s after its samples' %
                            (kind, name))
            table = helps if kind == 'HELP' else types
            if name in table:
                errs.append(where + 'second %s for %s' % (kind, name))
            if kind == 'TYPE' and rest not in TYPES:
                errs.append(where + 'unknown type %r' % rest)
            table[name] = rest
            continue
        m = SAMPLE.match(line)
        if not m:
            errs.append(where + 'not a sample: %r' % line)
            continue
        name, labels, value = m.group(1), m.group(2) or '', m.group(3)
        try:
            float(value)
        except ValueError:
            errs.append(where + 'bad value %r' % value)
        fam = family_of(name, types)
        if fam != current:
            if fam in done:
                errs.append(where + 'family %s interleaved with others' %
                            fam)
            if current:
                done.add(current)
            current = fam
        if fam not in helps:
            errs.append(where + 'no # HELP before %s' % fam)
        if fam not in types:
            errs.append(where + 'no # TYPE before %s' % fam)
        elif types[fam] == 'counter' and not fam.endswith('_total'):
            errs.append(where + 'counter %s does not end in _total' % fam)
        key = (name, ','.join(sorted(labels.strip('{}').split(','))))
        if key in samples:
            errs.append(where + 'duplicate sample %s%s' % (name, labels))
        samples.add(key)
        seen.add(fam)
    for name in set(helps) | set(types):
        if name not in seen:
            errs.append('family %s has no samples' % name)
    if not samples:
        errs.append('no samples at all')
    return errs


def main(argv):
    expect_fail = '--expect-fail' in argv
    files = [a for a in argv if a != '--expect-fail']
    bad = False
    for f in files:
        text = sys.stdin.read() if f == '-' else open(f).read()
        errs = check(text)
        if expect_fail:
            if not errs:
                print('%s: accepted, but should be refused' % f)
                bad = True
            continue
        for e in errs:
            print('%s: %s' % (f, e))
        bad = bad or bool(errs)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
