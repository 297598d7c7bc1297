"""Microsoft Graph: the groups of an Entra ID user whose token overflowed.

Above about 200 groups Entra ID leaves the ``groups`` claim out of the ID
token and points at Graph instead (``_claim_names``/``_claim_sources``). When
the connection allows it (``ConnectionConfig.groups_from_graph``), the
sign-in asks ``GET {GRAPH_BASE_URL}/v1.0/me/transitiveMemberOf`` with the
sign-in's access token, following ``@odata.nextLink`` for at most
``GRAPH_MAX_PAGES`` pages, through ``connections.outbound`` like every other
fetch. The endpoint in the token's ``_claim_sources`` is never used: it is
the IdP's word, and the access token goes only to the configured Graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from connections import outbound
from connections.oidc.errors import OIDCError

_GROUP_TYPE = "#microsoft.graph.group"
_MAX_NAME_CHARS = 256


@dataclass
class GraphGroups:
    """Group object IDs, in Graph's order, and the display names it gave."""

    ids: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)


def _base_url() -> str:
    return str(getattr(settings, "GRAPH_BASE_URL", "https://graph.microsoft.com"))


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _graph_error(detail: str) -> OIDCError:
    return OIDCError(
        "graph_groups",
        detail,
        _(
            "Check that the app registration has the delegated Microsoft Graph "
            "permission GroupMember.Read.All with admin consent (Entra admin "
            "center > App registrations > (your app) > API permissions), or turn "
            "off 'read groups from Microsoft Graph' and, under Token configuration "
            "> groups claim, choose 'Groups assigned to the application'."
        ),
    )


def graph_groups(access_token: str) -> GraphGroups:
    """The person's groups (transitive) from Microsoft Graph, or OIDCError."""
    base = _base_url().rstrip("/")
    url: str | None = f"{base}/v1.0/me/transitiveMemberOf?$select=id,displayName"
    max_pages = int(getattr(settings, "GRAPH_MAX_PAGES", 10))
    found = GraphGroups()
    pages = 0
    while url:
        if pages >= max_pages:
            raise _graph_error(
                _(
                    "Microsoft Graph lists more groups for this person than the "
                    "console reads (%(pages)d pages), so their role cannot be "
                    "decided safely."
                )
                % {"pages": max_pages}
            )
        if not _same_origin(url, base):
            # The access token never leaves for a host Graph's answer names.
            raise _graph_error(
                _("Microsoft Graph's next page is on another host; it was not read.")
            )
        pages += 1
        try:
            body = outbound.fetch(
                url,
                headers={
                    "Authorization": f"Bearer {access_token}",
                    "Accept": "application/json",
                },
            ).json()
        except outbound.OutboundError as exc:
            raise _graph_error(
                _("Reading the person's groups from Microsoft Graph failed: %(error)s")
                % {"error": exc}
            ) from None
        url = _read_page(body, found)
    return found


def _read_page(body: Any, found: GraphGroups) -> str | None:
    """Add one page's groups to ``found``; return the next page's URL."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise _graph_error(_("Microsoft Graph's answer is not a list of groups."))
    for item in body["value"]:
        if not isinstance(item, dict) or item.get("@odata.type") != _GROUP_TYPE:
            continue  # directory roles and administrative units are not groups
        group_id = item.get("id")
        if not isinstance(group_id, str) or not group_id or group_id in found.names:
            continue
        found.ids.append(group_id)
        name = item.get("displayName")
        found.names[group_id] = name[:_MAX_NAME_CHARS] if isinstance(name, str) else ""
    next_link = body.get("@odata.nextLink")
    return next_link if isinstance(next_link, str) and next_link else None
