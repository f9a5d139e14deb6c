#!/usr/bin/env python3
"""Assemble the benchmark corpus from the package registries into benches/.corpus/.

Every benchmark runs on this corpus. It is real source code, downloaded, never committed:

* rust/    `cargo vendor` of the crates pinned by benches/corpus-manifest/Cargo.lock
           (tokio, hyper, reqwest, axum, serde, syn, regex, clap, diesel, ... and their
           dependencies), without the generated Windows API bindings (windows*, winapi*);
* python/  source distributions from PyPI (pinned versions, sha256-checked);
* js/      packages from the npm registry (`npm pack`, integrity-checked by npm).

Usage: python3 benches/corpus.py [--dest DIR]
Prints the corpus summary as JSON. Re-running is cheap: finished parts are kept.
"""

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYPI = [("django", "5.2.19"), ("sqlalchemy", "2.1.9"), ("sympy", "1.14.0")]
NPM = [
    "lodash@4.17.21",
    "rxjs@7.8.1",
    "express@4.21.2",
    "react-dom@18.3.1",
    "@babel/parser@7.26.0",
    "typescript@5.6.3",
]


def log(message):
    print(f"corpus: {message}", file=sys.stderr, flush=True)


def safe_extract(archive, dest):
    """Extract a tar archive, refusing members that would land outside dest."""
    dest = dest.resolve()
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if not str(target).startswith(str(dest)):
                raise SystemExit(f"refusing unsafe path {member.name} in {archive}")
            if member.issym() or member.islnk():
                continue
            tar.extract(member, dest)


def rust(dest):
    out = dest / "rust"
    if (out / ".done").exists():
        return
    log("cargo vendor (pinned crates)")
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(
        ["cargo", "vendor", "--locked", "--quiet", "--manifest-path",
         str(HERE / "corpus-manifest" / "Cargo.toml"), str(out)],
        check=True, stdout=subprocess.DEVNULL,
    )
    for crate in out.iterdir():
        if crate.name.startswith(("windows", "winapi")):
            shutil.rmtree(crate)
    (out / ".done").touch()


def python(dest):
    out = dest / "python"
    out.mkdir(parents=True, exist_ok=True)
    for name, version in PYPI:
        target = out / f"{name}-{version}"
        if (target / ".done").exists():
            continue
        log(f"PyPI sdist {name}=={version}")
        meta_url = f"https://pypi.org/pypi/{name}/json"
        meta = json.load(urllib.request.urlopen(meta_url, timeout=60))
        sdist = next(u for u in meta["releases"][version] if u["packagetype"] == "sdist")
        data = urllib.request.urlopen(urllib.parse.urljoin(meta_url, sdist["url"]), timeout=300).read()
        digest = hashlib.sha256(data).hexdigest()
        if digest != sdist["digests"]["sha256"]:
            raise SystemExit(f"sha256 mismatch for {name}=={version}")
        archive = out / sdist["filename"]
        archive.write_bytes(data)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        safe_extract(archive, target)
        archive.unlink()
        (target / ".done").touch()


def javascript(dest):
    out = dest / "js"
    out.mkdir(parents=True, exist_ok=True)
    for spec in NPM:
        target = out / spec.replace("/", "__").replace("@", "", 1)
        if (target / ".done").exists():
            continue
        log(f"npm pack {spec}")
        result = subprocess.run(
            ["npm", "pack", "--silent", spec], cwd=out, check=True, capture_output=True, text=True
        )
        archive = out / result.stdout.strip().splitlines()[-1]
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        safe_extract(archive, target)
        archive.unlink()
        (target / ".done").touch()


def summary(dest):
    files = 0
    size = 0
    for path in dest.rglob("*"):
        if path.is_file() and path.name != ".done":
            files += 1
            size += path.stat().st_size
    return {"path": str(dest), "files": files, "bytes": size}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=str(HERE / ".corpus"))
    args = parser.parse_args()
    dest = Path(args.dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    rust(dest)
    python(dest)
    javascript(dest)
    print(json.dumps(summary(dest)))


if __name__ == "__main__":
    main()
