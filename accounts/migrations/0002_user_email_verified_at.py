"""User.email_verified_at, and which existing accounts already proved their
address.

Proven: operators' accounts (staff, superusers), accounts without a usable
password (made by an SSO sign-in from a verified address in a verified
domain), and accounts that accepted an invitation by its emailed link
(audited as "invitation.accepted" via "password" or "account"). Not proven:
owners from sign-up, whose address nobody checked; they confirm it once, by
the link the console's banner sends. An SSO sign-in accepting an invitation
proves nothing here: before this change it could link someone else's
password account.
"""

from django.db import migrations, models
from django.db.models import Q

EMAIL_LINK_ACCEPTANCES = ("password", "account")


def backfill(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    AuditEvent = apps.get_model("organizations", "AuditEvent")
    for user in User.objects.filter(
        Q(is_staff=True) | Q(is_superuser=True) | Q(password__startswith="!")
    ).only("pk", "date_joined"):
        User.objects.filter(pk=user.pk).update(email_verified_at=user.date_joined)
    accepted = (
        AuditEvent.objects.filter(action="invitation.accepted", actor__isnull=False)
        .order_by("created_at")
        .values_list("actor_id", "details", "created_at")
    )
    for actor_id, details, created_at in accepted.iterator():
        if (details or {}).get("via") in EMAIL_LINK_ACCEPTANCES:
            User.objects.filter(pk=actor_id, email_verified_at__isnull=True).update(
                email_verified_at=created_at
            )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("organizations", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_verified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
