"""The layering the design holds, as a contract over the import graph (function-local imports included):

- the engine (console/) never imports Textual or the screens, but for the one entry point that opens the console
  (console/cli.py imports screens.app);
- the screens never import the CLI or the trainer side (console.train, console.sft, console.model: torch);
- no import cycle among the project's modules.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINT = ("console.cli", "screens.app")
TRAINER_SIDE = {"console.train", "console.callbacks", "console.sft", "console.model", "console.generate"}  # torch


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in ("console", "screens"):
        for path in sorted((ROOT / package).glob("*.py")):
            name = f"{package}.{path.stem}" if path.stem != "__init__" else package
            edges = graph.setdefault(name, set())
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    edges.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    edges.add(node.module)
                    edges.update(f"{node.module}.{alias.name}" for alias in node.names)  # from console import x
    return graph


def _ours(graph: dict, target: str) -> str | None:
    return target if target in graph else None


def test_the_engine_never_imports_textual_or_the_screens():
    bad = [(m, t) for m, targets in _graph().items() if m.startswith("console")
           for t in targets if (t == "textual" or t.startswith(("textual.", "screens"))) and (m, t) != ENTRY_POINT
           and not (m, t.rsplit(".", 1)[0]) == ENTRY_POINT]
    assert bad == [], bad


def test_the_screens_never_import_the_cli_or_the_trainer_side():
    bad = [(m, t) for m, targets in _graph().items() if m.startswith("screens")
           for t in targets if t == "console.cli" or t in TRAINER_SIDE]
    assert bad == [], bad


def test_no_import_cycles():
    graph = _graph()
    edges = {m: {t for t in targets if t in graph and t != m and (m, t) != ENTRY_POINT} for m, targets in graph.items()}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert cycles == [], cycles


def test_ruff_clean():
    """Unused imports, undefined names, import order, bugbear's likely bugs and pre-3.11 idioms fail CI (ruff's F, I,
    B and UP rules, pyproject.toml's [tool.ruff]), as the layering does."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is in the [test] extras: pip install -e '.[test]'"
    done = subprocess.run([ruff, "check", "--output-format", "concise", "--no-cache",
                           "console", "screens", "bench", "tests"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
