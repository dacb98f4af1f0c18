"""Write docs/examples.md with every example's source inlined (mkdocs has no snippets).

Run from anywhere: python docs/make_examples_page.py
"""

import ast
import re
from pathlib import Path

root = Path(__file__).resolve().parents[1]
order = ["speech_actor_cv.py", "face_actor_cv.py", "fusion_actor_cv.py", "grid_search_fusion.py"]
parts = [
    "# Examples",
    "",
    "Runnable scripts from the repository's `examples/` folder. Each one writes a small",
    "synthetic RAVDESS-like corpus by default (`skemotion.datasets.make_ravdess_like`), so it",
    "runs anywhere in a few minutes, and takes the real RAVDESS folder as an option.",
    "The numbers they print on the synthetic corpus with few actors and epochs are noisy;",
    "they show the workflow, not the paper's results (see [Results](results.md)).",
    "",
    "<!-- Generated from examples/*.py: edit the scripts, then regenerate this page. -->",
    "",
]
for name in order:
    source = (root / "examples" / name).read_text()
    doc = ast.get_docstring(ast.parse(source)) or ""
    title, _, body = doc.partition("\n")
    body = body.lstrip("=\n").replace("::\n", ":\n")
    # Sphinx roles to Markdown code: :func:`~a.b.c` -> `c`, :class:`a.B` -> `a.B`.
    body = re.sub(
        r":\w+:`~?([\w.]+)`",
        lambda m: (
            "`" + m.group(1).split(".")[-1] + "`" if "~" in m.group(0) else "`" + m.group(1) + "`"
        ),
        body,
    )
    body = body.replace("``", "`")
    parts += [
        f"## {title.strip()}",
        "",
        f"`examples/{name}`",
        "",
        body.strip(),
        "",
        '??? example "Source"',
        "",
        "    ```python",
    ]
    parts += [("    " + line).rstrip() for line in source.splitlines()]
    parts += ["    ```", ""]
(root / "docs" / "examples.md").write_text("\n".join(parts))
