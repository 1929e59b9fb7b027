"""The one direction of imports (docs/architecture.md): commands -> capabilities -> base.

A capability package never imports click or opsctl.commands (nor the root
group in opsctl.cli), and capability packages never import each other in a loop.
"""

import ast
from pathlib import Path

import pytest

import opsctl

PACKAGE = Path(opsctl.__file__).parent
NOT_CAPABILITIES = {"commands", "data", "__pycache__"}
CAPABILITIES = sorted(
    path.name for path in PACKAGE.iterdir()
    if path.is_dir() and (path / "__init__.py").exists() and path.name not in NOT_CAPABILITIES
)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def package_imports(package: str) -> set[str]:
    return set().union(*(imported_modules(path) for path in (PACKAGE / package).rglob("*.py")))


def capability_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[0] == "opsctl" and parts[1] in CAPABILITIES:
        return parts[1]
    return None


def test_the_capabilities_are_the_packages_docs_name():
    assert {"admin", "audit", "db", "smoke", "stack"} <= set(CAPABILITIES)
    architecture = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    for package in CAPABILITIES:
        assert f"opsctl/{package}/" in architecture, f"docs/architecture.md does not describe opsctl/{package}/"
        assert (PACKAGE / package / "__init__.py").read_text().lstrip().startswith('"""'), f"opsctl/{package} has no docstring"


@pytest.mark.parametrize("package", CAPABILITIES)
def test_a_capability_imports_neither_click_nor_the_commands(package):
    forbidden = sorted(
        name for name in package_imports(package)
        if name == "click" or name.startswith(("click.", "opsctl.commands", "opsctl.cli"))
    )
    assert forbidden == [], f"opsctl/{package} imports {forbidden}"


def test_capabilities_import_each_other_without_a_loop():
    graph = {
        package: {capability_of(name) for name in package_imports(package)} - {None, package}
        for package in CAPABILITIES
    }

    def visit(package, path):
        for neighbour in sorted(graph[package]):
            if neighbour in path:
                cycle = path[path.index(neighbour):] + [neighbour]
                pytest.fail("import loop between capabilities: " + " -> ".join(cycle))
            visit(neighbour, path + [neighbour])

    for package in CAPABILITIES:
        visit(package, [package])


def test_the_base_imports_no_capability():
    base = [path for path in PACKAGE.glob("*.py") if path.name not in {"cli.py", "helpdoc.py", "__main__.py"}]
    for path in base:
        reached = sorted({capability_of(name) for name in imported_modules(path)} - {None})
        assert reached == [], f"opsctl/{path.name} (the base) imports {reached}"


def test_the_import_graph_test_sees_a_loop(tmp_path, monkeypatch):
    """The loop finder itself can fail: a planted two-package loop is reported."""
    for name, other in (("alpha", "beta"), ("beta", "alpha")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f'"""{name}"""\nfrom opsctl.{other} import x\n')
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path)
    monkeypatch.setattr(f"{__name__}.CAPABILITIES", ["alpha", "beta"])
    with pytest.raises(pytest.fail.Exception, match="alpha -> beta -> alpha"):
        test_capabilities_import_each_other_without_a_loop()
