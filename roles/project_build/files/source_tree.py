# Controller side of project_build: list a project's source files the way
# git would ship them (tracked + untracked-but-not-ignored files of the
# working copy, or a directory walk without build outputs when the source is
# not in a git work tree) and write them into a reproducible tar (sorted,
# fixed mtime/owner), so an unchanged tree gives a byte-identical tar and the
# copy to the host reports "ok".
#
# usage: python3 source_tree.py [--check] SRC_DIR OUT_TAR [EXCLUDE_GLOB ...]
# --check (Ansible's check mode): compare with OUT_TAR and report, write nothing.
# OUT_TAR ending in .gz is gzip-compressed (reproducibly: no name, mtime 0).
# prints JSON: {"changed": bool, "files": [...], "sha256": "..."}
import fnmatch
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

DEFAULT_WALK_EXCLUDES = [".git", ".git/*", "*_bpfel.o", "*_bpfeb.o", "*_bpfel.go", "*_bpfeb.go", "bin/*", "vendor/*"]


def git_files(src):
    try:
        out = subprocess.run(
            ["git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True, capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [p for p in out.decode().split("\0") if p]


def walk_files(src):
    found = []
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            found.append(os.path.relpath(os.path.join(root, name), src))
    return found


def nothing_to_ship(src, from_git):
    """The error for an empty source tree: why there is nothing, and the fix."""
    if not from_git:
        return ('project_build: %s holds no file to ship (after the excludes %s); point project_build_src at '
                'the project\'s root\n' % (src, ' '.join(DEFAULT_WALK_EXCLUDES)))
    top = subprocess.run(["git", "-C", src, "rev-parse", "--show-toplevel"], capture_output=True,
                         check=False).stdout.decode().strip()
    return ('project_build: git lists no file of %s to ship (tracked, or untracked and not ignored): the '
            'directory is ignored by the git repository at %s, or holds only ignored files. Fix: move the '
            'project out of that repository or make it a repository of its own (git init), or un-ignore it, '
            'then run again\n' % (src, top or '?'))


def main(argv):
    args = argv[1:]
    check = bool(args) and args[0] == "--check"
    if check:
        args = args[1:]
    src, out = args[0], args[1]
    excludes = args[2:]
    files = git_files(src)
    walked = files is None
    if walked:
        files = walk_files(src)
        excludes = excludes + DEFAULT_WALK_EXCLUDES
    files = sorted(
        p for p in set(files)
        if os.path.isfile(os.path.join(src, p)) and not os.path.islink(os.path.join(src, p))
        and not any(fnmatch.fnmatch(p, g) for g in excludes)
    )
    if not files:
        sys.stderr.write(nothing_to_ship(src, from_git=not walked))
        sys.exit(2)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for rel in files:
            path = os.path.join(src, rel)
            info = tarfile.TarInfo(rel)
            st = os.stat(path)
            info.size = st.st_size
            info.mode = 0o755 if st.st_mode & 0o111 else 0o644
            info.mtime = 0
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    data = buf.getvalue()
    if out.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    digest = hashlib.sha256(data).hexdigest()
    old = None
    if os.path.exists(out):
        with open(out, "rb") as fh:
            old = hashlib.sha256(fh.read()).hexdigest()
    if old != digest and not check:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        tmp = out + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out)
    json.dump({"changed": old != digest, "files": files, "sha256": digest}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
