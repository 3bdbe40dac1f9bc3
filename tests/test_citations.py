"""Citations a reader can follow: the papers are cited by the keys of docs/references.md, never by a path
to a file outside the repository, and every key cited is one the references page lists."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".cfg", ".toml", ".txt", ".csv", ""}
OUTSIDE_PATH = re.compile(r"papers/\d{3}|papers/README|reference/onenow|\.\./shared|shared/papers")
CITATION = re.compile(r"\[([A-Z][A-Za-z\-]+) (\d{4})(?:[,\]])")


def tracked_text_files():
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split("\n")
    files = [ROOT / n for n in names if n and Path(n).suffix in TEXT_SUFFIXES]
    return [f for f in files if f.is_file() and f.name != Path(__file__).name]


def test_no_path_to_a_file_outside_the_repository():
    found = []
    for path in tracked_text_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE_PATH.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not found, "cite by the keys of docs/references.md instead:\n" + "\n".join(found[:40])


def test_every_cited_key_is_on_the_references_page():
    page = (ROOT / "docs" / "references.md").read_text()
    keys = set(re.findall(r"^\| ([A-Z][A-Za-z\-]+ \d{4}) \|", page, flags=re.M))
    papers = {"Dworakowski 2019", "Liang 2019", "Heitmann 2019", "Riedi 2023", "Wang 2016"}
    assert papers <= keys, f"docs/references.md should list the five papers, found {sorted(keys)}"
    unknown = set()
    for path in tracked_text_files():
        for author, year in CITATION.findall(path.read_text(errors="replace")):
            if f"{author} {year}" not in keys:
                unknown.add(f"{author} {year} in {path.relative_to(ROOT)}")
    assert not unknown, f"keys not on docs/references.md: {sorted(unknown)}"
