#!/usr/bin/env python3
"""Build the docstring->function retrieval dataset for the semantic search evaluation.

The eval: for a function with a docstring, the *query* is the first sentence of that
docstring and the *target* is the function itself. The docstring is removed from the file
before indexing, so the search cannot win by matching the query text verbatim; it must
connect the description to the code. The pool is every chunk of the package (one index per
package tree). A hit is a returned range that overlaps the target and spans no more than 3x
the target's lines (so "the whole file" does not count).

Method
* Packages: pure-Python source distributions at the pinned versions in PACKAGES, fetched with
  `python3 -m pip download --no-deps --no-binary :all:` (a wheel if that fails) into
  benches/.cache/semantic-eval/downloads/ and reused on later runs.
* Only library source counts: the `.py` files under the package's import directories
  (`<pkg>/` or `src/<pkg>/`), minus tests/test dirs, test_*.py, conftest.py and vendored dirs.
* Candidates: every FunctionDef/AsyncFunctionDef at any nesting (qualname `Class.method`,
  `outer.inner`) with a docstring. The query is the docstring's first sentence: its first
  paragraph, whitespace normalised, cut at the first ". " or final "." (common abbreviations
  skipped), truncated at a word boundary to 300 chars, a trailing ":" and a leading
  `name(args) ->` signature dropped. It must have >= 4 words and not start with See,
  Deprecated, Alias, Same as, ... nor look like markup (`>>>`, `..`, `:param`, rst headings).
  Dunder methods are skipped except `__init__` (its docstring usually says what constructing
  the object does). The body after the docstring must span >= 3 lines. A first sentence
  shared by two or more functions of the package drops all of them; so does a qualname
  occurring twice in one file (property setters, if/else definitions), since targets are
  located by qualname; so does a body whose next statement is another string (it would
  become the docstring).
* Sampling: random.Random(SEED).sample, a fresh generator per package, up to --per-package.
* Trees: <pkg>/with-docs/ holds the library files unchanged; <pkg>/stripped/ the same files
  with the sampled targets' docstring statements deleted (`pass` inserted if a body would be
  empty; a docstring sharing a line with code is cut out of that line). Every stripped file
  is checked with ast.parse, and each target is located again by qualname in both trees:
  start_line is the first decorator line (else the `def` line), end_line is end_lineno.

Output: benches/.cache/semantic-eval/dataset.jsonl (one query a line, deterministic) and
summary.json. Usage: python3 benches/semantic_eval/build_dataset.py [--per-package N]
"""

import argparse
import ast
import json
import random
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

# (distribution name, exact version, import directories inside the archive)
PACKAGES = [
    ("networkx", "3.6.1", ["networkx"]),
    ("boltons", "26.2.0", ["boltons"]),
    ("more-itertools", "11.2.1", ["more_itertools"]),
    ("click", "8.5.1", ["click"]),
    ("toolz", "1.2.0", ["toolz"]),
]
SEED = 20261203
DEFAULT_PER_PACKAGE = 200
MAX_QUERY_CHARS = 300
ROOT = Path(__file__).resolve().parents[2] / "benches" / ".cache" / "semantic-eval"
SKIP_DIRS = {"tests", "test", "_vendor", "vendor", "vendored", "externals", "extern", "__pycache__"}
BAD_PREFIXES = ("see ", "see:", "deprecated", "alias ", "an alias", "this is an alias", "same as",
                "shortcut for", "backward compat", "backwards compat", "todo", "xxx", "placeholder",
                ">>>", "..", ":", "|", "-", "=", "#")
ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "cf", "al", "approx", "resp", "eq", "fig", "no"}


def log(msg):
    print(f"semantic-eval: {msg}", file=sys.stderr, flush=True)


def norm(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def find_archive(name, version, downloads):
    prefix = f"{norm(name)}-{version}"
    hits = sorted(p for p in downloads.iterdir() if norm(p.name).startswith(norm(prefix))
                  and p.name.endswith((".tar.gz", ".zip", ".whl")))
    sdists = [p for p in hits if not p.name.endswith(".whl")]
    wheels = [p for p in hits if p.name.endswith("-py3-none-any.whl")]
    return (sdists or wheels or [None])[0]


def download(name, version, downloads):
    downloads.mkdir(parents=True, exist_ok=True)
    archive = find_archive(name, version, downloads)
    if archive:
        return archive
    base = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(downloads)]
    for extra in (["--no-binary", ":all:"], ["--only-binary", ":all:"]):
        log(f"pip download {name}=={version} {' '.join(extra)}")
        if subprocess.run(base + extra + [f"{name}=={version}"]).returncode == 0:
            archive = find_archive(name, version, downloads)
            if archive:
                return archive
    raise SystemExit(f"could not download {name}=={version}")


def extract(archive, dest):
    """Unpack once into dest/raw; return the directory that holds the sources."""
    raw = dest / "raw"
    done = raw / ".done"
    if not done.exists() or done.read_text() != archive.name:
        shutil.rmtree(raw, ignore_errors=True)
        raw.mkdir(parents=True)
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as z:
                for member in z.namelist():
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise SystemExit(f"unsafe path {member} in {archive}")
                z.extractall(raw)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(raw, filter="data")
        done.write_text(archive.name)
    tops = [p for p in raw.iterdir() if p.is_dir()]
    return tops[0] if len(tops) == 1 and not archive.name.endswith(".whl") else raw


def library_files(src, import_dirs):
    """Yield (path relative to the tree root, absolute path) of the library's .py files."""
    for name in import_dirs:
        base = next((d for d in (src / "src" / name, src / name) if d.is_dir()), None)
        if base is None:
            raise SystemExit(f"no {name}/ in {src}")
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base.parent)
            if SKIP_DIRS & set(rel.parts[:-1]) or path.name == "conftest.py" \
                    or path.name.startswith("test_") or path.name.endswith("_test.py"):
                continue
            yield rel.as_posix(), path


def split_lines(text):
    """Lines with their endings, split the way the Python tokenizer counts them."""
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)


def functions(tree):
    """Yield (qualname, node) for every function at any nesting, in source order."""
    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    yield qual, child
                yield from walk(child, qual + ".")
            elif isinstance(child, ast.stmt):  # if/try/with blocks: same scope
                yield from walk(child, prefix)
    yield from walk(tree, "")


def is_string_stmt(stmt):
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
        and isinstance(stmt.value.value, str)


def first_sentence(doc):
    para = re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0]
    text = " ".join(para.split())
    for m in re.finditer(r"\.(?=\s|$)", text):
        word = text[:m.start()].rsplit(" ", 1)[-1].lower().strip("(")
        if word in ABBREVIATIONS or len(word) == 1:
            continue
        text = text[:m.end()]
        break
    if len(text) > MAX_QUERY_CHARS:
        text = text[:MAX_QUERY_CHARS].rsplit(" ", 1)[0]
    return text.rstrip(":").rstrip()  # "Break *iterable* into lists of length *n*:" + example


def query_for(name, node):
    """The query text for a function, or None if it is not a candidate."""
    if name.startswith("__") and name.endswith("__") and name != "__init__":
        return None
    doc = ast.get_docstring(node, clean=True)
    if not doc:
        return None
    body = node.body[1:]
    if not body or is_string_stmt(body[0]) or body[-1].end_lineno - body[0].lineno + 1 < 3:
        return None
    text = first_sentence(doc)
    # `add(item) -> add item to the set`: keep the description, not the signature
    text = re.sub(r"^" + re.escape(name) + r"\(.*?\)\s*(?:-+>|--|:)\s*", "", text)
    low = text.lower()
    if len(text.split()) < 4 or low.startswith(BAD_PREFIXES) or "----" in text or "====" in text:
        return None
    return text


def span(node):
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return {"start_line": start, "end_line": node.end_lineno}


def strip_docstrings(text, nodes):
    """Remove the docstring statement of each node; work bottom-up so line numbers hold."""
    lines = split_lines(text)
    for node in sorted(nodes, key=lambda n: n.body[0].lineno, reverse=True):
        doc = node.body[0]
        first, last = doc.lineno - 1, doc.end_lineno - 1
        head = lines[first].encode()[:doc.col_offset].decode()
        tail_line = lines[last]
        tail = tail_line.encode()[doc.end_col_offset:].decode()
        ending = tail_line[len(tail_line.rstrip("\r\n")):]
        rest = tail.rstrip("\r\n")
        if rest.lstrip().startswith(";"):  # `"doc"; code` -> `code`
            rest = rest.lstrip()[1:].lstrip()
        elif rest.strip() and not rest.lstrip().startswith("#"):
            raise ValueError(f"unexpected code after docstring at line {doc.end_lineno}")
        if rest.lstrip().startswith("#"):
            rest = ""
        only_doc = len(node.body) == 1 and not rest
        if head.strip():  # `def f(): "doc"...` on one line
            new = [head + (rest or "pass") + ending]
        elif rest:
            new = [head + rest + ending]
        elif only_doc:
            new = [head + "pass" + ending]
        else:
            new = []
        lines[first:last + 1] = new
    return "".join(lines)


def build_package(name, version, import_dirs, per_package):
    archive = download(name, version, ROOT / "downloads")
    dest = ROOT / name
    src = extract(archive, dest)
    files = list(library_files(src, import_dirs))
    parsed, candidates, texts = {}, [], {}
    n_functions = n_documented = 0
    for rel, path in files:
        text = path.read_bytes().decode("utf-8")
        tree = ast.parse(text, filename=rel)
        parsed[rel] = text
        funcs = list(functions(tree))
        counts = {}
        for qual, _ in funcs:
            counts[qual] = counts.get(qual, 0) + 1
        for qual, node in funcs:
            n_functions += 1
            n_documented += ast.get_docstring(node) is not None
            query = query_for(node.name, node)
            if query and counts[qual] == 1:
                candidates.append((rel, node.lineno, qual, query))
                texts.setdefault(query.casefold(), []).append(qual)
    candidates = [c for c in candidates if len(texts[c[3].casefold()]) == 1]
    sample = random.Random(SEED).sample(candidates, min(per_package, len(candidates)))
    sample.sort(key=lambda c: (c[0], c[1]))
    by_file = {}
    for rel, _, qual, query in sample:
        by_file.setdefault(rel, {})[qual] = query

    rows, trees = [], {"with-docs": dest / "with-docs", "stripped": dest / "stripped"}
    for tree_dir in trees.values():
        shutil.rmtree(tree_dir, ignore_errors=True)
    locations = {"with-docs": {}, "stripped": {}}
    for rel, text in parsed.items():
        targets = by_file.get(rel, {})
        stripped = text
        if targets:
            nodes = [n for q, n in functions(ast.parse(text)) if q in targets]
            stripped = strip_docstrings(text, nodes)
        for kind, content in (("with-docs", text), ("stripped", stripped)):
            out = trees[kind] / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(content.encode("utf-8"))
            if not targets:
                continue
            tree = ast.parse(out.read_bytes().decode("utf-8"), filename=str(out))  # must parse
            for qual, node in functions(tree):
                if qual in targets:
                    if kind == "stripped" and ast.get_docstring(node) is not None:
                        raise SystemExit(f"{name}: docstring left in {rel}:{qual}")
                    locations[kind][(rel, qual)] = span(node)
    for rel, _, qual, query in sample:
        rows.append({"package": name, "version": version, "query": query, "path": rel,
                     "qualname": qual, "stripped": locations["stripped"][(rel, qual)],
                     "with_docs": locations["with-docs"][(rel, qual)]})
    summary = {"version": version, "archive": archive.name, "files": len(files),
               "lines": sum(len(split_lines(t)) for t in parsed.values()),
               "functions": n_functions, "documented": n_documented,
               "candidates": len(candidates), "queries": len(rows),
               "files_with_targets": len(by_file)}
    return rows, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-package", type=int, default=DEFAULT_PER_PACKAGE)
    args = ap.parse_args()
    ROOT.mkdir(parents=True, exist_ok=True)
    all_rows, summary = [], {"seed": SEED, "per_package": args.per_package, "packages": {}}
    for name, version, import_dirs in PACKAGES:
        rows, info = build_package(name, version, import_dirs, args.per_package)
        all_rows += rows
        summary["packages"][name] = info
        log(f"{name} {version}: {info['files']} files, {info['functions']} functions, "
            f"{info['candidates']} candidates, {info['queries']} queries")
    summary["queries"] = len(all_rows)
    with open(ROOT / "dataset.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for row in all_rows:
            f.write(json.dumps(row) + "\n")
    (ROOT / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print(json.dumps(summary, indent=2, sort_keys=True))
    if len(all_rows) < 400 or sum(i["queries"] > 0 for i in summary["packages"].values()) < 3:
        raise SystemExit("dataset below the minimum of 400 queries over 3 packages")


if __name__ == "__main__":
    main()
