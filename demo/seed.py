"""Seed ``make demo``'s fresh database: run by ``demo.stack`` as a script,
with the demo's environment, after ``migrate``.

Creates the owner, the organization, its domain (pending: the demo's DNS
server publishes its TXT record, so "Verify" passes), group mappings for the
IdP's groups, and a setup link for the IT admin. Everything goes through the
services, as a person's clicks would. Prints one JSON line for ``demo.stack``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

DOMAIN = "demo.test"
OWNER_EMAIL = f"owner@{DOMAIN}"
OWNER_PASSWORD = "demo-owner-password"
IT_ADMIN_EMAIL = f"it@{DOMAIN}"
# IdP group -> console role.
MAPPINGS = {"admins": "admin", "engineering": "member"}


def seed() -> dict[str, Any]:
    from django.db import transaction

    from accounts.models import User
    from accounts.services import user_email_prove
    from domains.services import domain_add, domain_record
    from organizations.services import organization_create
    from rolemapping.models import Membership
    from rolemapping.services import mapping_set
    from setuplinks.services import setup_link_create

    with transaction.atomic():
        owner = User.objects.create_user(email=OWNER_EMAIL, password=OWNER_PASSWORD)
        user_email_prove(user=owner, via="operator")
        org = organization_create(name="Demo Inc", login_path="demo", owner=owner)
        membership = Membership.objects.select_related(
            "organization", "role", "user"
        ).get(organization=org, user=owner)
        domain = domain_add(actor_membership=membership, name=DOMAIN)
        for group, role in MAPPINGS.items():
            mapping_set(actor_membership=membership, idp_group=group, role_slug=role)
        _link, setup_url = setup_link_create(
            actor_membership=membership,
            email=IT_ADMIN_EMAIL,
            note="make demo",
        )
    record_name, record_value = domain_record(domain)
    return {
        "login_path": org.login_path,
        "domain": domain.name,
        "domain_id": domain.pk,
        "txt_name": record_name,
        "txt_value": record_value,
        "setup_url": setup_url,
    }


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    print(json.dumps(seed()))  # noqa: T201  (read by demo.stack)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
