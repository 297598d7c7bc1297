"""What the overview page shows, contributed by the apps above organizations.

organizations draws the page but knows nothing of domains, connections,
mappings or invitations: each of those apps registers its set-up steps (and,
for connections, an alert panel) from its ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.urls import NoReverseMatch, reverse

from organizations.models import Organization

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@dataclass(frozen=True)
class ChecklistStep:
    order: int
    # Marked for translation (gettext_lazy): registered once, shown per request.
    label: StrOrPromise
    hint: StrOrPromise
    url_name: str
    done: Callable[[Organization], bool]
    # Who does the step: an admin's checklist says when it is the owner's.
    perm: str = "console.view"


@dataclass(frozen=True)
class Panel:
    """A partial template above the checklist, with the context it needs."""

    template: str
    context: Callable[[Organization], dict[str, Any]]


_steps: dict[tuple[str, int], ChecklistStep] = {}
_panels: dict[str, Panel] = {}


def checklist_step_register(step: ChecklistStep) -> None:
    # By page and place (a label is translated): registering twice is harmless.
    _steps[(step.url_name, step.order)] = step


def panel_register(panel: Panel) -> None:
    _panels[panel.template] = panel


def _url(name: str, org: Organization) -> str:
    try:
        return reverse(name, args=[org.login_path])
    except NoReverseMatch:
        return ""


def setup_checklist(org: Organization) -> list[dict[str, Any]]:
    """The set-up steps in order, each with whether it is done and where.

    One query per registered step, however large the organization.
    """
    return [
        {
            "label": step.label,
            "hint": step.hint,
            "done": step.done(org),
            "url": _url(step.url_name, org),
            "perm": step.perm,
        }
        for step in sorted(_steps.values(), key=lambda s: s.order)
    ]


def panels(org: Organization) -> tuple[list[str], dict[str, Any]]:
    """The panels' templates and their merged context."""
    context: dict[str, Any] = {}
    for panel in _panels.values():
        context.update(panel.context(org))
    return [panel.template for panel in _panels.values()], context
