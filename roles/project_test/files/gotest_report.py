# Controller side of project_test: turn the `go test -json` stream of each
# suite into JUnit XML and print one summary table.
#
# usage: python3 gotest_report.py [--module PATH] REPORT_DIR SUITE [SUITE ...]
# --module: the project's module path; the table names packages relative to it
#        (else to the longest common prefix of the packages).
# reads  REPORT_DIR/<suite>.json (the raw stream) and, when present,
#        REPORT_DIR/<suite>.stderr and REPORT_DIR/<suite>.rc
# writes REPORT_DIR/<suite>.junit.xml and REPORT_DIR/summary.json
# prints the summary table; exit status 0 (the role decides pass/fail from
# summary.json).
#
# Written here rather than fetching go-junit-report/gotestsum: it runs on
# the controller with the Python Ansible already needs (no Go, no module
# download there), and it keeps what the summary needs: skip reasons, the
# first lines of a failure, build failures and panics outside any test.
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

FAIL_LINES = 12
SKIP_NAMES = 6
# `file_test.go:NN: ` that t.Skip puts before the reason: the same reason from
# several lines is one reason.
SOURCE_PREFIX = re.compile(r'^[\w.-]+\.go:\d+: ')
UNFINISHED = "(gotest_report) the test never finished: go test timed out or crashed, or the stream was cut off"


class Case:
    def __init__(self, pkg, name):
        self.pkg, self.name = pkg, name
        self.result, self.elapsed, self.output = None, 0.0, []

    def message(self):
        """Output without the framework's own === / --- lines."""
        keep = []
        for line in self.output:
            s = line.rstrip("\n")
            if s.strip().startswith(("=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS", "--- FAIL", "--- SKIP")):
                continue
            if s.strip():
                keep.append(s.strip())
        return keep


def parse(stream_lines):
    cases, pkgs, order = {}, {}, []
    for raw in stream_lines:
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        try:
            ev = json.loads(raw)
        except ValueError:
            continue
        pkg = ev.get("Package") or ev.get("ImportPath", "").split(" ")[0]
        act = ev.get("Action")
        if not pkg:
            continue
        p = pkgs.setdefault(pkg, {"result": None, "elapsed": 0.0, "output": []})
        test = ev.get("Test")
        if act in ("output", "build-output"):
            (cases[(pkg, test)].output if test and (pkg, test) in cases else p["output"]).append(ev.get("Output", ""))
            continue
        if act == "build-fail":
            p["result"] = "fail"
            continue
        if not test:
            if act in ("pass", "fail", "skip"):
                p["result"] = act
                p["elapsed"] = ev.get("Elapsed", 0.0) or 0.0
            continue
        key = (pkg, test)
        if key not in cases:
            cases[key] = Case(pkg, test)
            order.append(key)
        if act in ("pass", "fail", "skip"):
            cases[key].result = act
            cases[key].elapsed = ev.get("Elapsed", 0.0) or 0.0
    return cases, pkgs, order


def suite_report(name, report_dir):
    path = os.path.join(report_dir, name + ".json")
    with open(path, encoding="utf-8", errors="replace") as fh:
        cases, pkgs, order = parse(fh)
    stderr = ""
    if os.path.exists(os.path.join(report_dir, name + ".stderr")):
        with open(os.path.join(report_dir, name + ".stderr"), encoding="utf-8", errors="replace") as fh:
            stderr = fh.read()
    rc = None
    if os.path.exists(os.path.join(report_dir, name + ".rc")):
        with open(os.path.join(report_dir, name + ".rc"), encoding="utf-8") as fh:
            rc = int(fh.read().strip() or 0)
    # A test started but never finished (timeout, crash, stream cut off): a
    # failure that lasted as long as its package ran, saying so.
    for key in order:
        c = cases[key]
        if c.result is None:
            c.result = "fail"
            c.elapsed = pkgs[c.pkg]["elapsed"]
            c.output.append(UNFINISHED + "\n")
    # A package that failed with no failing test (build failure, panic in
    # init, timeout): one synthetic failing case carrying its output.
    for pkg, p in pkgs.items():
        if p["result"] == "fail" and not any(cases[k].result == "fail" for k in order if k[0] == pkg):
            c = Case(pkg, "(package)")
            c.result, c.elapsed, c.output = "fail", p["elapsed"], p["output"] or [stderr]
            cases[(pkg, "(package)")] = c
            order.append((pkg, "(package)"))
    if rc not in (None, 0) and not any(c.result == "fail" for c in cases.values()):
        c = Case("(go test)", "(command)")
        c.result, c.output = "fail", ["go test exited with status %d" % rc] + stderr.splitlines()
        cases[("(go test)", "(command)")] = c
        order.append(("(go test)", "(command)"))
        pkgs.setdefault("(go test)", {"result": "fail", "elapsed": 0.0, "output": []})
    return [cases[k] for k in order], pkgs, rc


def write_junit(name, cases, pkgs, path):
    root = ET.Element("testsuites", name=name)
    for pkg in sorted(pkgs):
        pc = [c for c in cases if c.pkg == pkg]
        suite = ET.SubElement(
            root, "testsuite", name=pkg, tests=str(len(pc)),
            failures=str(sum(c.result == "fail" for c in pc)),
            skipped=str(sum(c.result == "skip" for c in pc)),
            time="%.3f" % pkgs[pkg]["elapsed"],
        )
        if not pc and pkgs[pkg]["result"] == "skip":
            ET.SubElement(suite, "properties").append(ET.Element("property", name="go.package", value="no test files"))
        for c in pc:
            tc = ET.SubElement(suite, "testcase", classname=pkg, name=c.name, time="%.3f" % c.elapsed)
            msg = c.message()
            if c.result == "fail":
                el = ET.SubElement(tc, "failure", message=(msg[0] if msg else "failed"))
                el.text = "".join(c.output)
            elif c.result == "skip":
                ET.SubElement(tc, "skipped", message=" ".join(msg) or "skipped")
            if c.output:
                ET.SubElement(tc, "system-out").text = "".join(c.output)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def common_prefix(pkgs):
    """The longest common '/'-bounded prefix of import paths that is the parent of each one ('' if none)."""
    paths = [p.split('/') for p in pkgs if not p.startswith('(')]
    if not paths:
        return ''
    prefix = []
    for parts in zip(*paths):
        if len(set(parts)) != 1:
            break
        prefix.append(parts[0])
    # a prefix that is a whole package path would print that package as '.': keep one level more
    if any(len(p) == len(prefix) for p in paths):
        prefix = prefix[:-1]
    return '/'.join(prefix)


def short_name(pkg, base):
    """``pkg`` relative to the module path or prefix ``base`` ('.' for the module itself)."""
    if not base:
        return pkg
    if pkg == base:
        return '.'
    if pkg.startswith(base + '/'):
        return pkg[len(base) + 1:]
    return pkg


def skip_reason(reason):
    """The reason without its `file.go:NN: ` source position (several call sites, one reason)."""
    return SOURCE_PREFIX.sub('', reason or '') or '(no reason given)'


def skip_lines(skips, name):
    """One line per single skip, one line per reason shared by several skips (with a count and names)."""
    groups = {}
    for sk in skips:
        groups.setdefault(skip_reason(sk['reason']), []).append(sk)
    out = []
    for reason, group in groups.items():
        if len(group) == 1:
            sk = group[0]
            out.append("  SKIP %s %s: %s" % (name(sk["package"]), sk["test"], sk["reason"] or "(no reason given)"))
            continue
        out.append("  SKIP %d tests: %s" % (len(group), reason))
        by_pkg = {}
        for sk in group:
            by_pkg.setdefault(sk["package"], []).append(sk["test"])
        for pkg, tests in by_pkg.items():
            more = " and %d more" % (len(tests) - SKIP_NAMES) if len(tests) > SKIP_NAMES else ""
            out.append("    %s: %s%s" % (name(pkg), ", ".join(tests[:SKIP_NAMES]), more))
    return out


def main(argv):
    args = list(argv[1:])
    module = None
    if args[:1] == ["--module"]:
        module, args = args[1], args[2:]
    report_dir, suites = args[0], args[1:]
    summary = {"suites": {}, "failed": 0, "passed": 0, "skipped": 0}
    out = []
    slow = []
    reports = [(name,) + suite_report(name, report_dir) for name in suites]
    base = module or common_prefix([pkg for r in reports for pkg in r[2]])
    summary["module"] = base
    if base:
        out.append("packages relative to %s/" % base)

    def name(pkg):
        return short_name(pkg, base)

    for name_, cases, pkgs, rc in reports:
        write_junit(name_, cases, pkgs, os.path.join(report_dir, name_ + ".junit.xml"))
        s = {"rc": rc, "packages": {}, "failures": [], "skips": []}
        for pkg in sorted(pkgs):
            pc = [c for c in cases if c.pkg == pkg]
            s["packages"][pkg] = {
                "passed": sum(c.result == "pass" for c in pc),
                "failed": sum(c.result == "fail" for c in pc),
                "skipped": sum(c.result == "skip" for c in pc),
                "elapsed": pkgs[pkg]["elapsed"],
                "result": pkgs[pkg]["result"],
            }
        for c in cases:
            summary[{"pass": "passed", "fail": "failed", "skip": "skipped"}[c.result]] += 1
            if c.result == "fail":
                s["failures"].append({"package": c.pkg, "test": c.name, "output": c.message()[:FAIL_LINES]})
            elif c.result == "skip":
                s["skips"].append({"package": c.pkg, "test": c.name, "reason": " ".join(c.message())})
            if c.name != "(package)" and "/" not in c.name:
                slow.append((c.elapsed, name_, c.pkg, c.name))
        summary["suites"][name_] = s

        width = max([len("package")] + [len(name(pkg)) for pkg in s["packages"]])
        out.append("suite %s (go test exit status %s)" % (name_, "?" if rc is None else rc))
        out.append("  %-*s %6s %6s %7s %8s" % (width, "package", "passed", "failed", "skipped", "seconds"))
        for pkg, r in s["packages"].items():
            note = "  (no test files)" if r["result"] == "skip" and not (r["passed"] or r["failed"] or r["skipped"]) else ""
            out.append("  %-*s %6d %6d %7d %8.2f%s" % (
                width, name(pkg), r["passed"], r["failed"], r["skipped"], r["elapsed"], note))
        out.extend(skip_lines(s["skips"], name))
        for f in s["failures"]:
            out.append("  FAIL %s %s" % (name(f["package"]), f["test"]))
            out.extend("    | " + line for line in f["output"])
    slow.sort(reverse=True)
    out.append("slowest tests:")
    for elapsed, suite, pkg, test in slow[:5]:
        out.append("  %8.2fs  %-12s %s %s" % (elapsed, suite, name(pkg), test))
    out.append("total: %d passed, %d failed, %d skipped" % (summary["passed"], summary["failed"], summary["skipped"]))
    summary["table"] = out
    with open(os.path.join(report_dir, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1)
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv)
