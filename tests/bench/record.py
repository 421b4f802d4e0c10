"""Write a benchmark's printed table into its section of docs/benchmarks.md.

    python3 tests/bench/record.py NAME COMMAND-LINE < table.txt

The section of NAME lies between the lines `<!-- bench:NAME begin -->` and
`<!-- bench:NAME end -->`; everything between them is replaced by a header
(date, machine, load, the command line) and the table as a code block.
Text outside the markers (what dominates, targets) is the maintainers'.
Used by tests/bench/vm-ready and tests/bench/project-build with --record.
"""
import datetime
import os
import platform
import sys

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'docs', 'benchmarks.md')


def machine():
    cpu = platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open('/proc/loadavg') as f:
            load = ' '.join(f.read().split()[:3])
    except OSError:
        load = 'unknown'
    return '%d cores (%s), kernel %s, load at the end %s' % (os.cpu_count() or 0, cpu, platform.release(), load)


def replace_section(text, name, body):
    begin, end = '<!-- bench:%s begin -->' % name, '<!-- bench:%s end -->' % name
    try:
        i = text.index(begin) + len(begin)
        j = text.index(end, i)
    except ValueError:
        raise SystemExit('record: %s has no section %s ... %s; add the two marker lines first' % (DOC, begin, end))
    return text[:i] + '\n' + body + text[j:]


def main():
    if len(sys.argv) != 3:
        raise SystemExit('usage: python3 tests/bench/record.py NAME COMMAND-LINE < table')
    name, cmdline = sys.argv[1], sys.argv[2]
    table = sys.stdin.read().strip('\n')
    body = 'Recorded %s by `%s` on %s.\n\n```\n%s\n```\n' % (
        datetime.date.today().isoformat(), cmdline, machine(), table)
    with open(DOC) as f:
        text = replace_section(f.read(), name, body)  # fails before the page is opened for writing
    with open(DOC, 'w') as f:
        f.write(text)
    print('record: wrote the %s section of %s' % (name, os.path.normpath(DOC)))


if __name__ == '__main__':
    main()
