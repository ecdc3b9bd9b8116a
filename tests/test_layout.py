"""The layout holds: the collector's subpackages import only downwards, and the gateway, the
stack and the SDK import nothing of the collector (docs/architecture.md, "Layout")."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Lowest first. A module may import its own subpackage and anything below it, never above.
# "base" is the collector's top-level modules (errors, domain types, dates, Prometheus).
LAYERS = [
    "base", "store", "rollups", "drift", "explore", "auth", "ingest", "query", "alerts", "jobs",
    "api", "otlp", "app",
]  # fmt: skip
SUBPACKAGES = set(LAYERS) - {"base"}


def imports(path: pathlib.Path) -> set[str]:
    """Every absolute module path a file imports (from X import y counts X.y too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in SUBPACKAGES else "base"


def collector_modules() -> list[pathlib.Path]:
    return sorted((ROOT / "collector").rglob("*.py"))


def test_the_collector_is_grouped_by_concern() -> None:
    top = sorted(p.name for p in (ROOT / "collector").iterdir() if p.suffix == ".py")
    assert top == ["__init__.py", "__main__.py", "dates.py", "domain.py", "errors.py",
                   "prometheus.py"]  # fmt: skip
    for package in SUBPACKAGES:
        init = ROOT / "collector" / package / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "import" in doc, f"{init} must say what lives there and may import"


@pytest.mark.parametrize("path", collector_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_upwards(path: pathlib.Path) -> None:
    if path.name == "__main__.py" and path.parent.name == "collector":
        return  # the entry point: `python -m collector` runs the app's command line
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    own = LAYERS.index(layer(module))
    upward = sorted(
        target
        for target in imports(path)
        if target.startswith("collector.") and LAYERS.index(layer(target)) > own
    )
    assert not upward, f"{module} ({layer(module)}) imports from above: {upward}"


@pytest.mark.parametrize("package", ["gateway", "stack", "sdk/aegis_sdk", "aegis_shared"])
def test_only_the_collector_imports_the_collector(package: str) -> None:
    for path in sorted((ROOT / package).rglob("*.py")):
        found = {m for m in imports(path) if m == "collector" or m.startswith("collector.")}
        assert not found, f"{path.relative_to(ROOT)} imports {sorted(found)}"


def test_the_sdk_imports_nothing_of_the_server() -> None:
    server = ("collector", "gateway", "stack", "aegis_shared")
    for path in sorted((ROOT / "sdk" / "aegis_sdk").rglob("*.py")):
        found = {m for m in imports(path) if m.split(".")[0] in server}
        assert not found, f"{path.relative_to(ROOT)} imports {sorted(found)}"
