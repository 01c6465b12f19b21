"""The import graph as a contract, beside the import-linter contracts of pyproject.toml (run by .ci/run and by
test_import_contracts_hold): no import cycle among the project's modules (function-local imports included), the
contracts themselves kept, and ruff clean."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINT = ("console.cli.main", "screens.app")


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in ("console", "screens"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
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


def test_import_contracts_hold():
    """pyproject.toml's [tool.importlinter]: the engine's stages import only those below them; the engine never
    imports Textual or the screens (but the command that opens the console); the screens never import the CLI, the
    trainer side, or torch and the libraries that cost seconds to import, directly or through the engine."""
    import shutil
    import subprocess
    import sys

    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is in the [test] extras: pip install -e '.[test]'"
    done = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr


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


def test_every_import_of_ours_names_something_that_is_there():
    """Every `from console... import NAME` / `from screens... import NAME` in the product, function-local ones
    included, names a module or an attribute that exists: a name moved to another module with a caller left
    behind fails here, not when a user runs the one command that imports it (chat's CLI did, after the move)."""
    import importlib
    import importlib.util

    missing = []
    for package in ("console", "screens"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                        and node.module.split(".")[0] in ("console", "screens")):
                    continue
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not hasattr(module, alias.name) and importlib.util.find_spec(
                            f"{node.module}.{alias.name}") is None:
                        missing.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{alias.name}")
    assert missing == [], missing
