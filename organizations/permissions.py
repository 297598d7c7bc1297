"""What each role may do in the console. One table, read by every view."""

OWNER = "owner"
ROLE_RANK = {"viewer": 1, "member": 2, "admin": 3, "owner": 4}

# permission -> the lowest role that holds it
PERMISSIONS = {
    "org.view": "viewer",
    "members.manage": "admin",
    "invitations.manage": "admin",
    "mappings.manage": "admin",
    "domains.manage": "owner",
    "connections.manage": "owner",
    "sso.enforce": "owner",
}


def role_has_perm(role_slug: str, perm: str) -> bool:
    return ROLE_RANK.get(role_slug, 0) >= ROLE_RANK[PERMISSIONS[perm]]
