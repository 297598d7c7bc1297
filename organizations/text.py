"""Text that people type and that ends up in headers, pages and logs.

One place says what a name may hold and how an email subject is built, so a
line break typed into a name can neither be stored nor stop an email.
"""

from __future__ import annotations

import unicodedata

from django.utils.translation import gettext as _

from organizations.errors import ServiceError

SUBJECT_MAX_LENGTH = 200


def _is_control(char: str) -> bool:
    # Cc: C0/C1 controls (line breaks, NUL, escape...). Cf: invisible format
    # characters, bidirectional overrides included. Zl/Zp: line and paragraph
    # separators.
    return unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}


def name_clean(value: str | None, *, what: str, max_length: int = 100) -> str:
    """``value`` stripped, or ServiceError with a sentence saying what to fix.

    ``what`` names the thing in the sentence ("organization", "connection"),
    already translated by the caller. A name is one line of visible text:
    control and invisible formatting characters (line breaks, tabs, NUL,
    bidirectional overrides) are refused.
    """
    name = (value or "").strip()
    if not name or len(name) > max_length:
        raise ServiceError(
            # Translators: %(what)s is a noun: organization, connection, person.
            _("Give the %(what)s a name of 1 to %(max)d characters.")
            % {"what": what, "max": max_length},
            code="name_length",
        )
    if any(_is_control(char) for char in name):
        raise ServiceError(
            # Translators: %(what)s is a noun: organization, connection, person.
            _(
                "The %(what)s's name holds a line break or another invisible "
                "control character; type it again on one line."
            )
            % {"what": what},
            code="name_control_character",
        )
    return name


def email_subject(text: str) -> str:
    """An email subject from ``text``: every run of whitespace and control
    characters folded into one space, and cut to a readable length."""
    folded = "".join(" " if _is_control(c) or c.isspace() else c for c in text)
    subject = " ".join(folded.split())
    if len(subject) > SUBJECT_MAX_LENGTH:
        subject = subject[: SUBJECT_MAX_LENGTH - 1] + "…"
    return subject
