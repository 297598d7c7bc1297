"""Every user-visible string in the templates is marked for translation (issue 14).

Read from the source with Django's own template lexer: what is left of a
template once its {% translate %} and {% blocktranslate %} blocks, its
{{ variables }}, its other tags and its HTML markup are taken out must hold no
letters. Attributes a person reads or hears (title, aria-label, placeholder,
alt, the value of a submit button) count as text too, and so do literal
strings handed to a template as a label ({% include ... with copy_label="..." %})
or shown as a fallback ({{ x|default:"..." }}, {{ x|yesno:"..." }}): they are
written _("...") so that makemessages finds them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.template import engines
from django.template.base import Lexer, TokenType
from django.template.loader import render_to_string
from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"

# The templates checked, as globs under templates/: every one (the test
# below says so), folder by folder as each was marked for issue 14.
INCLUDED = [
    "*.html",  # base.html and the 4xx/5xx pages
    "includes/**/*",
    "accounts/**/*",
    "organizations/**/*",
    "rolemapping/**/*",
    "directory/**/*",
    "domains/**/*",
    "invitations/**/*",
    "connections/*.html",
    "connections/email/**/*",
    "connections/sso/**/*",
    "admin/**/*",
    "setuplinks/**/*",
]
SUFFIXES = {".html", ".txt"}

# Text that stays as it is in every language: codes, not words.
ALLOWED = {
    "TXT",  # the DNS record type (domains/domains.html)
    "sub",  # the OpenID Connect claim (connections/sso/_connection_signins.html)
}

# Stands for every tag and variable taken out of a template: no letter, so two
# words on either side of a {{ variable }} are still seen as text.
HOLE = "\x00"
SUSPECT = "\x01"
SUSPECT_MARK = re.compile(SUSPECT + r"(\d+)" + SUSPECT)
# Blocks whose content is markup, not text: Django admin's class of <body>.
UNREAD_BLOCKS = {"bodyclass"}
TRANSLATE_OPEN = {"blocktranslate", "blocktrans"}
TRANSLATE_CLOSE = {"endblocktranslate", "endblocktrans"}
LETTER = re.compile(r"[^\W\d_]")
READ_ATTRIBUTES = re.compile(
    r"""\b(title|aria-label|placeholder|alt)\s*=\s*(["'])(.*?)\2""", re.I | re.S
)
BUTTON_INPUT = re.compile(
    r"""^<input\b[^>]*\btype\s*=\s*["']?(submit|button|reset)\b""", re.I
)
VALUE_ATTRIBUTE = re.compile(r"""\bvalue\s*=\s*(["'])(.*?)\1""", re.I | re.S)
UNREAD = re.compile(
    r"<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->", re.I | re.S
)
MARKUP = re.compile(r"<[^<>]*>")
ENTITY = re.compile(r"&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")
# Filters whose literal argument is shown to people.
SHOWN_FILTER_ARG = re.compile(
    r"""\|\s*(default|default_if_none|yesno)\s*:\s*(["'])(.*?)\2""", re.S
)
# {% include %} arguments that are shown: copy_label="...", title="...", ...
SHOWN_INCLUDE_KEY = re.compile(r"(^|_)(label|title|text|message|hint|help)$")


def _has_letters(text: str) -> bool:
    return bool(LETTER.search(text))


def _is_plain_literal(value: str) -> bool:
    """A quoted string that is not wrapped in _() for translation."""
    return len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]


def _tag_problems(contents: str) -> list[str]:
    bits = contents.split()
    if not bits or bits[0] != "include" or "with" not in bits:
        return []
    found = []
    for arg in re.findall(r"""(\w+)=("[^"]*"|'[^']*'|\S+)""", contents):
        key, value = arg
        if (
            SHOWN_INCLUDE_KEY.search(key)
            and _is_plain_literal(value)
            and _has_letters(value)
        ):
            found.append(f"{{% include ... {key}={value} %}} is not marked _()")
    return found


def _variable_problems(contents: str) -> list[str]:
    found = []
    if _is_plain_literal(contents.strip()) and _has_letters(contents):
        found.append(f"{{{{ {contents} }}}} is a literal that is not marked _()")
    for name, _quote, arg in SHOWN_FILTER_ARG.findall(contents):
        if _has_letters(arg):
            found.append(f'|{name}:"{arg}" in {{{{ {contents} }}}} is not marked _()')
    return found


def untranslated(source: str) -> list[str]:
    """The user-visible text of a template that is not marked for translation."""
    problems: list[str] = []
    # Literals in {{ variables }} count only where they are seen: in text or
    # in a read attribute, not in a class or a URL. Each leaves a numbered
    # mark in the skeleton, to be judged once the markup is known.
    suspects: list[str] = []
    skeleton: list[str] = []
    in_translation = 0
    in_comment = 0
    in_unread_block = 0
    for token in Lexer(source).tokenize():
        kind, contents = token.token_type, token.contents
        bits = contents.split()
        if kind == TokenType.BLOCK:
            name = bits[0] if bits else ""
            if name in TRANSLATE_OPEN:
                in_translation += 1
            elif name in TRANSLATE_CLOSE:
                in_translation -= 1
            elif name == "comment":
                in_comment += 1
            elif name == "endcomment":
                in_comment -= 1
            elif name == "block" and len(bits) > 1 and bits[1] in UNREAD_BLOCKS:
                in_unread_block += 1
            elif name == "endblock" and in_unread_block:
                in_unread_block -= 1
            elif not (in_translation or in_comment):
                problems.extend(_tag_problems(contents))
            skeleton.append(HOLE)
        elif kind == TokenType.VAR:
            found = (
                []
                if in_translation or in_comment or in_unread_block
                else _variable_problems(contents)
            )
            if found:
                suspects.append("; ".join(found))
                skeleton.append(f"{SUSPECT}{len(suspects) - 1}{SUSPECT}")
            else:
                skeleton.append(HOLE)
        elif kind == TokenType.TEXT and not (
            in_translation or in_comment or in_unread_block
        ):
            skeleton.append(contents)
    markup = UNREAD.sub(HOLE, "".join(skeleton))

    def seen(value: str) -> None:
        for index in SUSPECT_MARK.findall(value):
            problems.append(suspects[int(index)])

    for tag in MARKUP.findall(markup):
        for attribute, _quote, value in READ_ATTRIBUTES.findall(tag):
            seen(value)
            if _has_letters(value):
                problems.append(f'{attribute}="{value}" in {tag}')
        if BUTTON_INPUT.search(tag):
            for _quote, value in VALUE_ATTRIBUTE.findall(tag):
                seen(value)
                if _has_letters(value):
                    problems.append(f'value="{value}" in {tag}')

    text = ENTITY.sub(HOLE, MARKUP.sub(HOLE, markup))
    seen(text)
    for piece in SUSPECT_MARK.sub(HOLE, text).split(HOLE):
        piece = " ".join(piece.split())
        if _has_letters(piece) and piece not in ALLOWED:
            problems.append(piece)
    return problems


def _templates() -> list[Path]:
    found = {
        path
        for pattern in INCLUDED
        for path in TEMPLATES.glob(pattern)
        if path.is_file() and path.suffix in SUFFIXES
    }
    return sorted(found)


def _name(path: Path) -> str:
    return path.relative_to(TEMPLATES).as_posix()


def test_every_template_is_checked():
    every = {
        _name(path)
        for path in TEMPLATES.rglob("*")
        if path.is_file() and path.suffix in SUFFIXES
    }
    names = {_name(path) for path in _templates()}
    assert "accounts/email/email_proof.txt" in names
    assert "connections/sso/error.html" in names
    assert names == every


@pytest.mark.parametrize("path", _templates(), ids=_name)
def test_every_visible_string_is_marked_for_translation(path):
    assert untranslated(path.read_text()) == []


@pytest.mark.parametrize("path", _templates(), ids=_name)
def test_every_checked_template_compiles(path):
    """A template that uses {% translate %} without {% load i18n %} fails here."""
    engines["django"].get_template(_name(path))


@pytest.mark.parametrize(
    "source",
    [
        "<p>Hello</p>",
        "<p>{% translate 'Hello' %} world</p>",
        "<p>Hello {{ name }}</p>",
        '<button aria-label="Delete {{ name }}">{% translate "Delete" %}</button>',
        '<img src="x.png" alt="A logo">',
        '<input type="submit" value="Publish">',
        '{{ email|default:"system" }}',
        '{{ flag|yesno:"Yes,No" }}',
        '<td title="{{ email|default:"nobody" }}"></td>',
        '{% include "includes/copy_field.html" with copy_label="Name" %}',
        "{% if a %}Live{% endif %}",
        "{% load i18n %}{% autoescape off %}Hello,\n{{ url }}\n{% endautoescape %}",
    ],
)
def test_the_check_finds_text_that_is_not_marked(source):
    assert untranslated(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "<p>{% translate 'Hello' %}</p>",
        "<p>{% blocktranslate trimmed with n=x.name %}Hello {{ n }}"
        "{% endblocktranslate %}</p>",
        "<p>{% blocktranslate count counter=n %}{{ counter }} item{% plural %}"
        "{{ counter }} items{% endblocktranslate %}</p>",
        '{% translate "Pages" as label %}<nav aria-label="{{ label }}"></nav>',
        '<input type="hidden" name="action" value="publish">',
        '{{ email|default:_("system") }}',
        '{{ flag|yesno:_("Yes,No") }}',
        '{{ email|default:"—" }}',
        '<p class="message-{{ tags|default:"info" }}"></p>',
        "{% block bodyclass %}{{ block.super }} app-{{ label }}{% endblock %}",
        '{% include "includes/copy_field.html" with copy_id="uri-login"'
        ' copy_label=_("Name") %}',
        "<a href=\"{% url 'home' %}\">&larr; {{ org.name }}</a> · ✓",
        "<script>const label = 'Copied';</script><!-- Not shown -->",
        "{# a note for developers #}{% comment %}Also a note{% endcomment %}",
        "<code>TXT</code>",
    ],
)
def test_the_check_accepts_marked_text_data_and_markup(source):
    assert untranslated(source) == []


@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("500.html", {}),
        (
            "invitations/email/invitation.html",
            {"organization_name": "Acme", "inviter": "Ada", "role": "Admin"},
        ),
        ("accounts/email/signup_notice.html", {"email": "ada@acme.test"}),
    ],
)
def test_a_page_declares_the_language_it_is_rendered_in(template, context):
    """Screen readers pick their voice from <html lang>: it follows the text."""
    with translation.override("fr"):
        assert '<html lang="fr">' in render_to_string(template, context)
    with translation.override("en-us"):
        assert '<html lang="en-us">' in render_to_string(template, context)


def test_every_status_code_a_page_shows_has_a_translated_word():
    """Pages show status codes through |status_label, not a choice label
    (those are not marked for translation: marking them is a migration)."""
    from connections.checks_steps.results import FAILED, PASSED, SKIPPED, WARNING
    from connections.models import Connection, ConnectionCheck, SignInEvent
    from domains.models import Domain
    from invitations.services import STATES
    from organizations.templatetags.status_labels import STATUS_LABELS, status_label

    shown = {
        *ConnectionCheck.Status.values,
        *Connection.Health.values,
        *SignInEvent.Outcome.values,
        *Domain.Status.values,
        *STATES,
        PASSED,
        FAILED,
        WARNING,
        SKIPPED,
        "pending",  # a check step not run yet
    }
    assert shown <= set(STATUS_LABELS)
    assert status_label("passed") == "Passed"
    assert status_label("something_new") == "Something_new"
    template = engines["django"].from_string(
        "{% load status_labels %}{{ code|status_label }}"
    )
    assert template.render({"code": "revoked"}) == "Revoked"
