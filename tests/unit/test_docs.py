"""The repository explains itself: its documents are in it, their links and the paths they name
resolve, and the configuration reference matches the options the code declares.

herder was designed against a behaviour contract and a design note kept outside the
repository; what the code relies on of them is written in docs/ now (architecture.md,
workflow.md, failure-semantics.md, api-contract.md). A clone has only the repository, so no
file may send its reader to those outside documents again, nor to paths of the machine it was
written on.
"""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Written in pieces so that this file does not match them itself.
FORBIDDEN = {
    "a path to the documents kept beside the repository": re.compile(re.escape("../" + "shared")),
    "a section of the outside behaviour contract": re.compile("SPEC" + r"\s*\u00a7"),
    "a step number of the outside workflow notes": re.compile("seed" + r"\s+steps?\b", re.I),
    "the outside design or contract by file name": re.compile(r"\b(DESIGN|SPEC)" + r"\.md\b"),
    "an absolute path of the machine the file was written on": re.compile("/wo" + "rk/"),
}
# Recorded benchmark results keep the paths of the run they record.
NOT_PROSE = ("bench/results/",)

LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
REPO_PATH = re.compile(r"`((?:herder|tests|scripts|docs|bench)/[\w./-]*)`")


def tracked_files() -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                                check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [name for name in listed.decode().split("\0") if name]


def read_text(name: str) -> str | None:
    path = os.path.join(ROOT, name)
    if not os.path.isfile(path):   # deleted in the working tree, or a submodule
        return None
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


def markdown_files() -> list[str]:
    return [name for name in tracked_files() if name.endswith(".md")]


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a document."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", FENCE.sub("", markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        unique, n = slug, 0
        while unique in found:
            n += 1
            unique = f"{slug}-{n}"
        found.add(unique)
    return found


def test_no_file_cites_documents_outside_the_repository():
    offences = []
    for name in tracked_files():
        if name.startswith(NOT_PROSE):
            continue
        text = read_text(name)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for what, pattern in FORBIDDEN.items():
                if pattern.search(line):
                    offences.append(f"{name}:{number}: {what}: {line.strip()}")
    assert not offences, "say the reason in a plain sentence, or point to docs/:\n" + \
        "\n".join(offences)


def test_links_between_documents_resolve():
    broken = []
    for name in markdown_files():
        text = FENCE.sub("", read_text(name) or "")
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z+.-]*:", target):   # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            linked = os.path.normpath(os.path.join(os.path.dirname(name), path)) if path \
                else name
            if not os.path.exists(os.path.join(ROOT, linked)):
                broken.append(f"{name}: {target}: no such file")
            elif anchor and linked.endswith(".md") and \
                    anchor not in anchors(read_text(linked) or ""):
                broken.append(f"{name}: {target}: no such heading in {linked}")
    assert not broken, "\n".join(broken)


def test_repository_paths_named_in_documents_exist():
    missing = []
    for name in markdown_files():
        for path in REPO_PATH.findall(read_text(name) or ""):
            if not os.path.exists(os.path.join(ROOT, path.rstrip("/"))):
                missing.append(f"{name}: `{path}`")
    assert not missing, "documents name paths that are not in the repository:\n" + \
        "\n".join(missing)


def test_the_readme_links_every_document_in_docs():
    readme = read_text("README.md") or ""
    unlinked = [name for name in markdown_files()
                if name.startswith("docs/") and f"({name})" not in readme]
    assert not unlinked, f"README.md does not link {unlinked}"


def test_configuration_reference_matches_the_declared_options():
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "config-doc.py"),
                           "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
