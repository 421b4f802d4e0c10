# Host side of project_test when the tests were built on the controller: run
# test binaries one after the other, each in its package's directory, and
# print their runs as JSON for labkit.ebpf_rdma.go_test_binaries (step
# convert) on the controller.
#
# usage: python3 run_test_binaries.py SPEC_JSON
# SPEC_JSON: {"runs": [{"package": IMPORT_PATH, "binary": PATH, "dir": PATH, "args": [...]}, ...]}
# prints [{"package", "rc", "output", "elapsed", "error"}, ...]; exit status 0
# (the test results are in the runs).
#
# stdout and stderr of a binary go to one pipe, as with go test, so a panic
# stays in order with the test output it interrupts. The environment and the
# user are the task's (the suite's env, become).
import json
import subprocess
import sys
import time


def run_one(spec):
    start = time.time()
    try:
        proc = subprocess.Popen([spec["binary"]] + list(spec.get("args") or []), cwd=spec["dir"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = proc.communicate()[0]
        rc, error = proc.returncode, ""
    except OSError as e:
        out, rc = b"", 127
        error = "cannot run %s in %s: %s" % (spec["binary"], spec["dir"], e)
    output = out.decode("utf-8", "replace")
    if error:
        output += error + "\n"
    return {"package": spec["package"], "rc": rc, "output": output,
            "elapsed": round(time.time() - start, 3), "error": error}


def main(argv):
    spec = json.loads(argv[1])
    json.dump([run_one(r) for r in spec["runs"]], sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
