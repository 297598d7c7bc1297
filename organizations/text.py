"""Text that people type and that ends up in headers, pages and logs.

One place says what a name may hold and how an email subject is built, so a
line break typed into a name can neither be stored nor stop an email.
"""

from __future__ import annotations

import unicodedata

from organizations.errors import ServiceError

SUBJECT_MAX_LENGTH = 200


def _is_control(char: str) -> bool:
    # Cc: C0/C1 controls (line breaks, NUL, escape...). Cf: invisible format
    # characters, bidirectional overrides included. Zl/Zp: line and paragraph
    # separators.
    return unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}


def name_clean(value: str | None, *, what: str, max_length: int = 100) -> str:
    """``value`` stripped, or ServiceError with a sentence saying what to fix.

    A name is one line of visible text: control and invisible formatting
    characters (line breaks, tabs, NUL, bidirectional overrides) are refused.
    """
    name = (value or "").strip()
    if not name or len(name) > max_length:
        raise ServiceError(f"Give the {what} a name of 1 to {max_length} characters.")
    if any(_is_control(char) for char in name):
        raise ServiceError(
            f"The {what}'s name holds a line break or another invisible control "
            "character; type it again on one line."
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
