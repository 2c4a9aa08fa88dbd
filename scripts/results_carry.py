#!/usr/bin/env python3
"""Merges the finished work of earlier GPU calls into one tarball that the next call carries.

Usage: scripts/results_carry.py OUT.tgz RUNS-SMALL.tgz...   (e.g. .cache/gpu/runs.tgz /work/.device/*/runs-small.tgz)

Each RUNS-SMALL.tgz is the `runs-small.tgz` of a `scripts/gpu-results.sh` call (paths runs/results/...).
Kept: every run folder's config.json, log.txt and table.txt, and every method folder or sweep
candidate that finished (holds a results.json) with its matrix.csv and metrics.jsonl. Left out: the
files of unfinished candidates, so that `retain run --resume` starts those afresh while it skips the
finished ones (train/sweep.cpp accepts a finished candidate only if its settings match). A later
tarball's file wins over an earlier one's.
"""
import io
import os
import sys
import tarfile
from pathlib import PurePosixPath


def finished_dirs(names):
    return {str(PurePosixPath(n).parent) for n in names if PurePosixPath(n).name == "results.json"}


def keep(name, done):
    p = PurePosixPath(name)
    if p.name in ("config.json", "log.txt", "table.txt") and len(p.parts) == 6:  # runs/results/<suite>/<method>/seed<k>/<file>
        return True
    return p.name in ("results.json", "matrix.csv", "metrics.jsonl") and str(p.parent) in done


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    files = {}
    for path in argv[2:]:
        try:
            with tarfile.open(path) as t:
                members = [m for m in t.getmembers() if m.isfile()]
                done = finished_dirs(m.name for m in members)
                for m in members:
                    if keep(m.name, done):
                        files[m.name] = (m, t.extractfile(m).read())
        except (OSError, tarfile.TarError) as e:
            sys.exit(f"results_carry.py: {path}: {e}")
    for name in list(files):
        if not name.startswith("runs/results/"):
            sys.exit(f"results_carry.py: {name}: expected paths under runs/results/ (a gpu-results.sh runs-small.tgz)")
    tmp = argv[1] + ".tmp"
    with tarfile.open(tmp, "w:gz") as out:
        for name in sorted(files):
            m, data = files[name]
            out.addfile(m, io.BytesIO(data))
    os.replace(tmp, argv[1])
    runs = sorted(n for n in files if n.endswith("results.json"))
    print(f"{argv[1]}: {len(files)} files, {len(runs)} finished method folders or candidates")
    for n in runs:
        print("  " + n.removeprefix("runs/results/").removesuffix("/results.json"))


if __name__ == "__main__":
    main(sys.argv)
