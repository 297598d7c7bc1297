"""Every refusal carries a stable code (STYLE rule 13), read from the source.

A refusal is an ``organizations.errors.ServiceError`` (``PermissionDenied``,
``InvitationLinkError`` and every other subclass included) or a
``domains.names.DomainNameError``. Each call that builds one passes ``code=``,
a snake_case string, so tests and scripts can tell refusals apart without
reading English. A subclass whose ``__init__`` takes no ``code`` fixes its own,
in its ``super().__init__(..., code=...)`` call.

Names are resolved through each module's imports: Django's own
``PermissionDenied`` (a 403) is not one of these.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "accounts",
    "organizations",
    "rolemapping",
    "domains",
    "invitations",
    "connections",
)
ROOTS = {
    ("organizations.errors", "ServiceError"),
    ("organizations.errors", "PermissionDenied"),
    ("domains.names", "DomainNameError"),
}
CODE_RE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


@dataclass
class Module:
    name: str
    path: str
    tree: ast.Module
    # local name -> (module, name) it stands for
    names: dict[str, tuple[str, str]]


def _module(name: str, path: str, source: str) -> Module:
    tree = ast.parse(source, filename=path)
    names: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.ClassDef):
            names[node.name] = (name, node.name)
    return Module(name, path, tree, names)


def _modules() -> list[Module]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            relative = path.relative_to(ROOT)
            name = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
            found.append(_module(name, relative.as_posix(), path.read_text()))
    return found


def _refusal_classes(modules: list[Module]) -> dict[tuple[str, str], ast.ClassDef]:
    """Every refusal class defined in the packages, subclasses of subclasses too."""
    known: dict[tuple[str, str], ast.ClassDef] = {}
    changed = True
    while changed:
        changed = False
        for module in modules:
            for node in ast.walk(module.tree):
                if not isinstance(node, ast.ClassDef):
                    continue
                key = (module.name, node.name)
                if key in known:
                    continue
                bases = {
                    module.names.get(base.id)
                    for base in node.bases
                    if isinstance(base, ast.Name)
                }
                if bases & (ROOTS | set(known)) or key in ROOTS:
                    known[key] = node
                    changed = True
    return known


def _takes_code(cls: ast.ClassDef) -> bool:
    """Whether the class's constructor has a ``code`` parameter (or inherits one)."""
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            args = node.args
            return any(a.arg == "code" for a in args.args + args.kwonlyargs)
    return True


def _code_problem(call: ast.Call) -> str | None:
    code = next((k.value for k in call.keywords if k.arg == "code"), None)
    if code is None:
        return "no code="
    if isinstance(code, ast.Constant):
        if not isinstance(code.value, str) or not CODE_RE.fullmatch(code.value):
            return f"code={code.value!r} is not snake_case"
    return None  # a code handed on from another refusal (code=exc.code)


def _is_super_init(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
    )


def _calls(
    module: Module, classes: dict[tuple[str, str], ast.ClassDef]
) -> list[tuple[ast.Call, str]]:
    """Every call in ``module`` that builds a refusal, with what it builds."""
    found: list[tuple[ast.Call, str]] = []
    for cls in (n for n in ast.walk(module.tree) if isinstance(n, ast.ClassDef)):
        key = (module.name, cls.name)
        if key in classes and key not in ROOTS and not _takes_code(cls):
            # The class fixes its own code: its super().__init__ must name it.
            found += [
                (call, f"{cls.name}.__init__")
                for call in ast.walk(cls)
                if isinstance(call, ast.Call) and _is_super_init(call)
            ]
    for call in ast.walk(module.tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
            target = module.names.get(call.func.id)
            if target in classes and _takes_code(classes[target]):
                found.append((call, call.func.id))
    return found


def _offenders(modules: list[Module]) -> tuple[list[str], int]:
    classes = _refusal_classes(modules)
    offenders: list[str] = []
    sites = 0
    for module in modules:
        for call, what in _calls(module, classes):
            sites += 1
            problem = _code_problem(call)
            if problem:
                offenders.append(f"{module.path}:{call.lineno} {what}: {problem}")
    return offenders, sites


def test_every_refusal_carries_a_snake_case_code():
    offenders, sites = _offenders(_modules())
    assert sites > 60  # the scan really sees the raise sites
    assert offenders == []


def test_the_scan_knows_the_refusal_classes():
    classes = {name for _module, name in _refusal_classes(_modules())}
    assert {
        "ServiceError",
        "PermissionDenied",
        "DomainNameError",
        "InvitationLinkError",
        "PublishBlocked",
        "SignupRefused",
        "AddressBelongsToOrganization",
        "EmailProofLinkError",
        "SignInRefused",
    } <= classes


def test_the_scan_catches_a_refusal_without_a_code():
    source = """
from django.core.exceptions import PermissionDenied as Forbidden
from organizations.errors import PermissionDenied, ServiceError


class Gone(ServiceError):
    def __init__(self, what):
        super().__init__(what)


def refuse(exc):
    raise Forbidden("Django's own 403: no code")
    raise ServiceError("fine", code="fine_one")
    raise ServiceError("handed on", code=exc.code)
    raise ServiceError("no code")
    raise PermissionDenied("bad code", code="Not-Snake")
    raise Gone("fixed code, but missing")
"""
    modules = [*_modules(), _module("app.views", "app/views.py", source)]
    offenders, _sites = _offenders(modules)
    assert [o for o in offenders if o.startswith("app/")] == [
        "app/views.py:8 Gone.__init__: no code=",
        "app/views.py:15 ServiceError: no code=",
        "app/views.py:16 PermissionDenied: code='Not-Snake' is not snake_case",
    ]
