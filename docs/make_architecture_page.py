"""Write docs/architecture.md and its import graph from skemotion's own imports.

Run from anywhere: ``python docs/make_architecture_page.py``. A test
(``skemotion/tests/test_architecture.py``) fails when the page differs from what this
script writes, so the picture cannot drift from the code.

Only imports at module level count as dependencies: an import inside a function runs
on use, so it cannot make an import cycle; those are listed apart.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "skemotion"
# The root package's modules in two nodes: the leaf helpers every package may use, and
# the top (the package's own API, persistence, estimator discovery, the CLI).
CORE = "core"
TOP = "skemotion"
_TOP_MODULES = {"skemotion", "skemotion.cli", "skemotion._discovery"}
# private packages of the top: the CLI's commands and persistence
_TOP_PACKAGES = ("skemotion._cli", "skemotion._persistence")

PLUG_IN = """\
## Where new things plug in

- **A new feature** of the paper kind: one transformer that turns clips into
  `(n_clips, n_frames, n_features)` arrays (in `audio`, `face` or `embed`, following
  `LogMelSpectrogram` or `KeyPointDistances`: parameters stored in `__init__`,
  validation in `fit`), and, if the paper's tables use it, one entry in
  `skemotion.paper.FEATURES` (its Table 1 row, its Table 3 row, its description).
  `reproduce_table1/2`, `network_settings` and the ready-made pipelines read that entry.
- **A new model**: a `TIMNetClassifier` subclass in `nets` (skorch's way: the module
  built through `get_params_for("module")`), or any scikit-learn classifier; it is
  found by `skemotion._discovery.all_estimators`, so the common estimator checks and
  the persistence allow-list cover it without a list to edit.
- **A new corpus**: a loader in `datasets` returning the clip table (`path`, `actor`,
  `emotion`...); the face features take its neutral-reference lookup as
  `reference_resolver` instead of knowing its file names.
- **Shared private helpers** (atomic writes, digests, the clip-table parser, group
  checks, optional imports) live in `utils`; no subpackage imports another's private
  names.
"""


LARGE = 600
LARGE_REASONS: dict[str, str] = {}


def _node(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "skemotion" or "tests" in parts:
        return ""
    if module in _TOP_MODULES or module.startswith(_TOP_PACKAGES):
        return TOP
    if len(parts) > 1 and (PACKAGE / parts[1]).is_dir():
        return parts[1]
    if len(parts) > 1 and (PACKAGE / f"{parts[1]}.py").is_file():
        return CORE
    return TOP


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        if "tests" in relative.parts:
            continue
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    if node.level:
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if node.module is None:  # from . import x: x may be a module of the package
        return [f"{target}.{alias.name}" for alias in node.names]
    return [target]


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Edges between packages: (module-level imports, imports inside functions)."""
    top: dict[str, set[str]] = defaultdict(set)
    lazy: dict[str, set[str]] = defaultdict(set)
    for module, path in _modules().items():
        source = _node(module)
        tree = ast.parse(path.read_text())
        module_level = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = _resolve(module, path, node)
            else:
                continue
            for target in targets:
                dest = _node(target)
                if not dest or dest == source:
                    continue
                (top if id(node) in module_level else lazy)[source].add(dest)
    for source, dests in top.items():
        lazy[source] -= dests
    return dict(top), {k: v for k, v in lazy.items() if v}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``edges`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dest in sorted(edges.get(node, ())):
            if state.get(dest) == 1:
                return [*stack[stack.index(dest) :], dest]
            if dest not in state:
                found = visit(dest)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _layers(nodes: list[str], edges: dict[str, set[str]]) -> dict[str, int]:
    """Depth of every package: 0 imports no other package, n imports up to depth n - 1."""
    depth: dict[str, int] = {}

    def of(node: str) -> int:
        if node not in depth:
            depth[node] = 1 + max((of(d) for d in edges.get(node, ())), default=-1)
        return depth[node]

    for node in nodes:
        of(node)
    return depth


def _summary(name: str) -> str:
    if name == TOP:
        return (
            "the package itself: `EMOTIONS`, `save_model` / `load_model` (persistence "
            "with an allow-list found by estimator discovery), the `skemotion` command"
        )
    if name == CORE:
        return (
            "leaf helpers of the root: the version, exceptions, subject ids, parallel "
            "streaming, file walking"
        )
    doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text())) or ""
    return doc.split("\n\n")[0].replace("\n", " ").rstrip(".")


def _lines(name: str) -> list[tuple[str, int]]:
    if name in (TOP, CORE):
        paths = [p for p in sorted(PACKAGE.glob("*.py")) if _node(_dotted(p)) == name]
    else:
        paths = sorted((PACKAGE / name).glob("*.py"))
    return [(p.name, len(p.read_text().splitlines())) for p in paths]


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def render() -> str:
    """The page, as markdown."""
    top, lazy = import_graph()
    nodes = sorted({*top, *(d for v in top.values() for d in v), *lazy}, key=str)
    depth = _layers(nodes, top)
    cycle = find_cycle(top)
    lines = [
        "# Architecture",
        "",
        "<!-- Generated by docs/make_architecture_page.py from the code's imports; "
        "do not edit. -->",
        "",
        "skemotion is one package of subpackages, each a family of scikit-learn "
        "estimators or the helpers they share. The picture and the tables below are "
        "computed from the source: an arrow goes from a package to one it imports at "
        "module level. Packages are drawn in layers: a package only imports packages "
        "of lower layers.",
        "",
        "![Import graph of skemotion's packages](figures/architecture.png)",
        "",
        "Import cycles between packages: "
        + ("none." if cycle is None else " -> ".join(cycle) + " (must be removed)."),
        "",
        "## Packages",
        "",
        "| layer | package | holds | imports (module level) |",
        "| ---: | --- | --- | --- |",
    ]
    for node in sorted(nodes, key=lambda n: (depth[n], n)):
        label = {TOP: "`skemotion`", CORE: "`skemotion` (root helpers)"}.get(
            node, f"`skemotion.{node}`"
        )
        imports = ", ".join(f"`{d}`" for d in sorted(top.get(node, ()))) or "-"
        lines.append(f"| {depth[node]} | {label} | {_summary(node)} | {imports} |")
    lines += [
        "",
        "Imports made inside functions (on use: optional dependencies, or a heavier "
        "package only some calls need). They run after every package is loaded, so "
        "they cannot form an import cycle:",
        "",
        "| package | imports on use |",
        "| --- | --- |",
    ]
    for node in sorted(lazy):
        lines.append(f"| `{node}` | " + ", ".join(f"`{d}`" for d in sorted(lazy[node])) + " |")
    lines += ["", PLUG_IN, "## Large modules", ""]
    large = [
        (name if node in (TOP, CORE) else f"{node}/{name}")
        for node in sorted(nodes)
        for name, count in _lines(node)
        if count > LARGE
    ]
    if not large:
        lines.append(f"No module is over {LARGE} lines.")
    else:
        lines += [
            f"Modules over {LARGE} lines, and why (a module not listed in the generator's "
            "reasons is marked *to split*):",
            "",
            "| module | why it is large |",
            "| --- | --- |",
        ]
        lines += [f"| `{key}` | {LARGE_REASONS.get(key, '*to split*')} |" for key in large]
    return "\n".join(lines) + "\n"


def draw(path: Path) -> None:
    """The import graph as a PNG: one row per layer, arrows to imported packages."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top, _ = import_graph()
    nodes = sorted({*top, *(d for v in top.values() for d in v)})
    depth = _layers(nodes, top)
    rows: dict[int, list[str]] = defaultdict(list)
    for node in sorted(nodes):
        rows[depth[node]].append(node)
    position = {}
    for level, members in rows.items():
        for i, node in enumerate(members):
            position[node] = ((i + 1) / (len(members) + 1), level)
    fig, ax = plt.subplots(figsize=(9, 1.3 * (max(rows) + 1) + 0.5))
    for source, dests in top.items():
        for dest in dests:
            ax.annotate(
                "",
                xy=position[dest],
                xytext=position[source],
                arrowprops={
                    "arrowstyle": "->",
                    "color": "0.55",
                    "lw": 0.8,
                    "shrinkA": 14,
                    "shrinkB": 14,
                },
            )
    for node, (x, y) in position.items():
        ax.text(
            x,
            y,
            node,
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round", "fc": "#e8f0fe", "ec": "#3c6fd1"},
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, max(rows) + 0.6)
    ax.set_yticks(range(max(rows) + 1), [f"layer {i}" for i in range(max(rows) + 1)])
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title("skemotion: packages and their module-level imports")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    (ROOT / "docs" / "architecture.md").write_text(render())
    draw(ROOT / "docs" / "figures" / "architecture.png")
    top, _ = import_graph()
    cycle = find_cycle(top)
    if cycle:
        sys.exit(f"import cycle: {' -> '.join(cycle)}")
