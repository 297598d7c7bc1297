from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from connections.services.encryption import encrypted_columns_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (client secrets, signing keys, session "
        "keys, queued email bodies) with the first key of FIELD_ENCRYPTION_KEYS, "
        "so an older key can then be removed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be re-encrypted and change nothing.",
        )

    def handle(self, *args, **options):
        dry_run = options["dry_run"]
        results = encrypted_columns_reencrypt(dry_run=dry_run)
        for result in results:
            line = (
                _(
                    "%(column)s: %(rotated)d would be re-encrypted, %(current)d "
                    "already under the first key"
                )
                if dry_run
                else _(
                    "%(column)s: %(rotated)d re-encrypted, %(current)d already "
                    "under the first key"
                )
            ) % {
                "column": result.label,
                "rotated": result.rotated,
                "current": result.current,
            }
            if result.unreadable:
                line += _(", %(count)d unreadable") % {"count": result.unreadable}
            self.stdout.write(line)
        unreadable = sum(r.unreadable for r in results)
        if unreadable:
            raise CommandError(
                _(
                    "%(count)d stored values decrypt with none of "
                    "FIELD_ENCRYPTION_KEYS: add the key they were written with "
                    "back (after the first) and run this again."
                )
                % {"count": unreadable}
            )
        if dry_run:
            self.stdout.write(_("Dry run: nothing was changed."))
        else:
            self.stdout.write(
                _(
                    "Done. Every stored secret is now under the first key; the "
                    "other keys can be removed from FIELD_ENCRYPTION_KEYS."
                )
            )
