"""The apps' imports point one way, and oidc/ stays pure protocol code.

Read from the source (ast), not from sys.modules, so a function-level import
placed to dodge a cycle still counts when it is at module level.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each app may import only the apps before it (settings.INSTALLED_APPS order).
LAYERS = [
    "organizations",
    "rolemapping",
    "domains",
    "accounts",
    "invitations",
    "directory",
    "connections",
    "setuplinks",
]
OIDC_FORBIDDEN = ("django.db", "django.http", "django.contrib", "django.shortcuts")


def _top_level(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
        elif isinstance(node, ast.ClassDef | ast.If | ast.Try):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                if isinstance(sub, ast.ImportFrom) and sub.module and not sub.level:
                    found.append(sub.module)
    return found


def _sources(app: str) -> list[Path]:
    return [
        path
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts
    ]


@pytest.mark.parametrize("app", LAYERS)
def test_an_app_imports_only_the_apps_below_it(app):
    allowed = set(LAYERS[: LAYERS.index(app) + 1])
    upward = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _sources(app)
        for module in _top_level(path)
        if module.split(".")[0] in LAYERS and module.split(".")[0] not in allowed
    ]
    assert upward == []


def test_rolemapping_never_imports_connections_even_inside_functions():
    offenders = [
        str(path.relative_to(ROOT))
        for path in _sources("rolemapping")
        if "connections"
        in {
            node.module.split(".")[0]
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and node.module
        }
    ]
    assert offenders == []


def test_the_oidc_package_is_pure_protocol_code():
    offenders = []
    for path in sorted((ROOT / "connections" / "oidc").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            for module in modules:
                ours = module.split(".")[0] in LAYERS and not module.startswith(
                    "connections.oidc"
                )
                if ours or module.startswith(OIDC_FORBIDDEN):
                    offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_the_layers_are_the_installed_apps_order(settings):
    ours = [app for app in settings.INSTALLED_APPS if app in LAYERS]
    assert ours == LAYERS
