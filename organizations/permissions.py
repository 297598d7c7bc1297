"""What each role may do in the console. One table, read by every view."""

OWNER = "owner"
ROLE_RANK = {"viewer": 1, "member": 2, "admin": 3, "owner": 4}

# permission -> the lowest role that holds it
PERMISSIONS = {
    "org.view": "viewer",
    # The management pages (domains, connections, role mapping, invitations,
    # members, audit log): members and viewers get their home page instead.
    "console.view": "admin",
    "members.manage": "admin",
    "invitations.manage": "admin",
    "mappings.manage": "admin",
    "directory.manage": "admin",
    "domains.manage": "owner",
    "connections.manage": "owner",
    "sso.enforce": "owner",
}

# Everything that decides who gets into an organization waits until the
# account's address is proven: someone who signed up with an address they do
# not own may look around their own organization, and change nothing that
# reaches other people (docs/ARCHITECTURE.md, "Security model").
NEEDS_PROVEN_ADDRESS = frozenset(PERMISSIONS) - {"org.view", "console.view"}


def role_has_perm(role_slug: str, perm: str) -> bool:
    return ROLE_RANK.get(role_slug, 0) >= ROLE_RANK[PERMISSIONS[perm]]


def address_allows(user, perm: str) -> bool:
    """Whether ``user``'s address is proven enough for ``perm``.

    Reads ``email_verified_at`` of settings.AUTH_USER_MODEL (accounts sits
    above organizations, so no import).
    """
    return perm not in NEEDS_PROVEN_ADDRESS or user.email_verified_at is not None
