"""The package's shape holds: no module over 400 lines, no function over 60, and imports point
down the layers the README's Architecture section draws (what may import what)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mailflow"

# Each layer may import itself and the layers listed; anything not listed is an edge
# (cli, daemon, demo, views) and may import everything.
ALLOWED = {
    "errors": set(),
    "spec": set(),
    "tls": set(),
    "backoff": set(),
    "children": set(),
    "services": set(),
    "mail": {"errors", "spec"},
    "config": {"errors", "mail"},
    "store": {"errors", "config", "spec"},
    "sources": {"errors", "config", "mail", "store", "tls"},
    "delivery": {"errors", "spec", "config", "mail", "store", "services", "backoff", "children",
                 "tls"},
    "sla": {"errors", "spec", "config", "mail", "store", "services", "delivery"},
    "knowledge": {"errors", "spec", "config", "mail", "store", "services"},
    "process": {"errors", "spec", "config", "mail", "store", "services", "delivery", "sla",
                "knowledge"},
    "pipeline": {"errors", "spec", "config", "mail", "store", "services", "delivery", "process",
                 "sources", "children", "sla"},
    "reports": {"errors", "spec", "config", "mail", "store", "services", "delivery", "sla",
                "knowledge"},
}  # fmt: skip


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))]


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _runtime_imports(tree: ast.Module) -> list[str]:
    """Modules imported at run time (``if TYPE_CHECKING:`` blocks are types only)."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mailflow"):
            if node.module == "mailflow":
                found += [f"mailflow.{alias.name}" for alias in node.names]
            else:
                found.append(node.module)
    return found


def test_modules_and_functions_stay_small() -> None:
    """No module in mailflow/ over 400 lines, no function over 60."""
    too_long = []
    for path, tree in _modules():
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > 400:
            too_long.append(f"{path.name}: {lines} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    too_long.append(f"{path.name}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, too_long


def test_imports_point_down_the_layers() -> None:
    """Imports follow the README's layers (type-checking imports aside)."""
    wrong = []
    for path, tree in _modules():
        layer = _layer(path)
        if layer not in ALLOWED:
            continue  # an edge module
        for module in _runtime_imports(tree):
            target = module.split(".")[1] if "." in module else module
            if target != layer and target not in ALLOWED[layer] and target != "__version__":
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not wrong, wrong
