"""Helpers shared by the scripts in scripts/realdata/ (not a script itself).

- cache_dir(): the cache folder, ${FGQ_CACHE:-$HOME/.cache/fgq}. Everything fetched or generated
  (images, arrays, weights, ONNX files) lives there and never in the repository (licences: see
  docs/real-models.md).
- iter_files(src, suffixes): yields (relative_path, bytes) for every file under `src` whose name
  ends with one of `suffixes`. `src` is either a plain folder (a checkout or an extracted archive)
  or a bare git directory (as returned by a `git clone --bare` / mirror); for a git directory the
  blobs of HEAD are streamed with `git cat-file --batch`, so nothing has to be extracted to disk.
"""
import os
import subprocess


def cache_dir():
    return os.environ.get("FGQ_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "fgq")


def is_git_dir(path):
    return (os.path.isfile(os.path.join(path, "HEAD")) and os.path.isdir(os.path.join(path, "objects"))
            and not os.path.isdir(os.path.join(path, ".git")))


def iter_files(src, suffixes, rev="HEAD"):
    suffixes = tuple(s.lower() for s in suffixes)
    if not is_git_dir(src):
        for root, _dirs, files in os.walk(src):
            if os.sep + ".git" in root + os.sep:
                continue
            for f in sorted(files):
                if f.lower().endswith(suffixes):
                    full = os.path.join(root, f)
                    with open(full, "rb") as fh:
                        yield os.path.relpath(full, src).replace(os.sep, "/"), fh.read()
        return
    out = subprocess.run(["git", "--git-dir", src, "ls-tree", "-r", "-z", rev],
                         check=True, stdout=subprocess.PIPE).stdout
    entries = []
    for rec in out.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        _mode, typ, sha = meta.split()
        path = path.decode()
        if typ == b"blob" and path.lower().endswith(suffixes):
            entries.append((path, sha))
    proc = subprocess.Popen(["git", "--git-dir", src, "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    # Feed all requests from a thread-free loop: one request, one answer, in order.
    try:
        for path, sha in entries:
            proc.stdin.write(sha + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob":
                raise RuntimeError("git cat-file: unexpected answer %r for %s" % (header, path))
            size = int(header[2])
            data = proc.stdout.read(size)
            proc.stdout.read(1)  # trailing newline
            yield path, data
    finally:
        proc.stdin.close()
        proc.wait()
