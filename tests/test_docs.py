"""The docs stay true: the op catalog matches the registry, examples run, YAML examples load.

Conventions for docs/*.md (a failing test says which block broke, by file and line):

- A ``docs/*.md`` file opts in to running its examples with the line
  ``<!-- docs-test: run python blocks -->``. Then every fenced block whose info string is
  exactly ``python`` runs, in order, in one namespace per file, in a temporary working
  directory. A fragment that cannot run is fenced as ``python no-run``.
- A block fenced ``text output`` right after a runnable python block must equal what that
  block printed.
- Every ``yaml`` block in docs/spec.md is a whole pipeline that ``augkit.load`` accepts; every
  ``yaml`` block in docs/ops.md is a list of op entries that loads as ``{"ops": [...]}``.
  A fragment that is not meant to load is fenced as ``yaml no-run``. ``json`` blocks in
  docs/spec.md load too.
- Relative links between the owned docs, and their ``#anchors``, resolve.
- docs/ops.md has one ``## <name>`` section per registered op, each with the parameter table
  rendered by :func:`param_table` from the op's declarations.

Run ``python tests/test_docs.py`` to print the parameter tables for pasting into docs/ops.md.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import re
from pathlib import Path

import pytest
import yaml

import augkit
from augkit.params import PROBABILITY

DOCS = Path(__file__).resolve().parent.parent / "docs"
OPT_IN = "<!-- docs-test: run python blocks -->"
OWNED = ("spec.md", "ops.md", "backends-and-seeding.md", "keras.md")
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)


# -- helpers (also used to write docs/ops.md) -------------------------------------------------
def blocks(path: Path) -> list[tuple[str, str, int]]:
    """``(info string, code, line number)`` of every fenced block in a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(m.group(1).strip(), m.group(2), text.count("\n", 0, m.start()) + 1)
            for m in _FENCE.finditer(text)]


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _fmt_default(value) -> str:
    return "`" + json.dumps(_plain(value)) + "`"


def param_table(cls) -> str:
    """The Markdown parameter table of an op class, rendered from its declarations."""
    rows = ["| parameter | default | allowed | meaning |", "|---|---|---|---|"]
    for name, decl in cls.params.items():
        rows.append(f"| `{name}` | {_fmt_default(decl.default)} | {decl.describe()} | "
                    f"{decl.doc} |")
    rows.append(f"| `p` | {_fmt_default(cls.default_p)} | {PROBABILITY.describe()} | "
                f"{PROBABILITY.doc} |")
    return "\n".join(rows)


def targets(cls) -> str:
    """The ``Targets:`` line of an op's docstring (Google style)."""
    doc = inspect.getdoc(cls) or ""
    match = re.search(r"^Targets:\s*\n\s*(.+?)\s*$", doc, re.M)
    assert match, f"{cls.__name__} has no 'Targets:' section in its docstring"
    return match.group(1).rstrip(".")


def facts_line(cls) -> str:
    kind = ("geometric (fused into one warp)" if cls.geometric
            else "policy (value part, then a geometric part fused into one warp)"
            if getattr(cls, "compound", False)
            else "batch (mixes images and labels within a batch)" if getattr(cls, "mixes", False)
            else "value")
    return (f"Python: `augkit.ops.{cls.__name__}` · kind: {kind} · backends: "
            f"{', '.join(cls.backends)} · targets: {targets(cls)}")


def sections(path: Path) -> dict[str, str]:
    """``## name`` sections of a Markdown file, name → body."""
    text = path.read_text(encoding="utf-8")
    parts = re.split(r"^## +(.+?)\s*$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def _runnable_docs() -> list[Path]:
    return sorted(p for p in DOCS.glob("*.md") if OPT_IN in p.read_text(encoding="utf-8"))


# -- the op catalog ---------------------------------------------------------------------------
def test_owned_docs_exist_and_opt_in_to_running_their_examples():
    for name in OWNED:
        assert OPT_IN in (DOCS / name).read_text(encoding="utf-8"), name


def test_op_catalog_lists_exactly_the_registered_ops():
    found = [s for s in sections(DOCS / "ops.md") if re.fullmatch(r"[a-z_0-9]+", s)]
    assert sorted(found) == augkit.ops.available()
    assert found == sorted(found), "keep the catalog in alphabetical order"


@pytest.mark.parametrize("name", augkit.ops.available())
def test_op_section_documents_every_parameter(name):
    cls = augkit.ops.get(name)
    body = sections(DOCS / "ops.md")[name]
    assert param_table(cls) in body, (
        f"the parameter table of '{name}' in docs/ops.md is out of date; regenerate it with "
        f"`python tests/test_docs.py {name}`")
    for param in [*cls.params, "p"]:
        assert f"| `{param}` |" in body
    assert facts_line(cls) in body


# -- examples run ---------------------------------------------------------------------------
def _run_file(path: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    found = blocks(path)
    for i, (info, code, line) in enumerate(found):
        if info != "python":
            continue
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"{path.name}:{line}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - reported with the block's location
            raise AssertionError(f"{path.name}: the python block at line {line} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc
        if i + 1 < len(found) and found[i + 1][0] == "text output":
            want = found[i + 1][1].rstrip("\n")
            assert out.getvalue().rstrip("\n") == want, (
                f"{path.name}: output of the block at line {line} differs from the "
                f"'text output' block at line {found[i + 1][2]}:\n{out.getvalue()}")


@pytest.mark.parametrize("doc", _runnable_docs(), ids=lambda p: p.name)
def test_python_examples_run(doc, tmp_path, monkeypatch):
    assert any(info == "python" for info, _, _ in blocks(doc)), f"{doc.name} has no example"
    _run_file(doc, tmp_path, monkeypatch)


def test_every_python_block_in_owned_docs_is_run_or_explicitly_a_fragment():
    for name in OWNED:
        for info, _, line in blocks(DOCS / name):
            if info.startswith("python"):
                assert info in ("python", "python no-run"), f"{name}:{line}: {info!r}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


@pytest.mark.parametrize("name", OWNED)
def test_relative_links_and_anchors_resolve(name):
    text = (DOCS / name).read_text(encoding="utf-8")
    for target, anchor in re.findall(r"\]\(([\w\-./]*\.md)?(?:#([\w\-]+))?\)", text):
        path = DOCS / (target or name)
        assert path.exists(), f"{name}: link to missing {target}"
        if anchor:
            headings = re.findall(r"^#+ +(.+?)\s*$", path.read_text(encoding="utf-8"), re.M)
            assert anchor in {_anchor(h) for h in headings}, f"{name}: no #{anchor} in {path.name}"


# -- YAML examples load ---------------------------------------------------------------------
def _yaml_blocks(name: str) -> list[tuple[str, int]]:
    if not (DOCS / name).exists():  # reported by the tests that need the file
        return []
    return [(code, line) for info, code, line in blocks(DOCS / name) if info == "yaml"]


def test_spec_doc_has_yaml_examples():
    assert len(_yaml_blocks("spec.md")) >= 2


@pytest.mark.parametrize("code, line", _yaml_blocks("spec.md"),
                         ids=lambda v: str(v) if isinstance(v, int) else "")
def test_spec_yaml_examples_load(code, line, tmp_path):
    path = tmp_path / "example.yaml"
    path.write_text(code, encoding="utf-8")
    pipe = augkit.load(path)
    assert isinstance(pipe, augkit.Pipeline) and pipe.ops, f"spec.md:{line} has no ops"


@pytest.mark.parametrize("code, line", _yaml_blocks("ops.md"),
                         ids=lambda v: str(v) if isinstance(v, int) else "")
def test_ops_yaml_snippets_load(code, line):
    entries = yaml.safe_load(code)
    assert isinstance(entries, list), f"ops.md:{line}: expected a list of op entries"
    augkit.Pipeline.from_dict({"ops": entries})


def test_json_examples_in_spec_doc_load(tmp_path):
    found = [(code, line) for info, code, line in blocks(DOCS / "spec.md") if info == "json"]
    assert found
    for code, line in found:
        path = tmp_path / f"example-{line}.json"
        path.write_text(code, encoding="utf-8")
        augkit.load(path)


if __name__ == "__main__":  # print the catalog's generated parts for docs/ops.md
    import sys

    for op_name in sys.argv[1:] or augkit.ops.available():
        op_cls = augkit.ops.get(op_name)
        print(f"## {op_name}\n\n{facts_line(op_cls)}\n\n{param_table(op_cls)}\n")
