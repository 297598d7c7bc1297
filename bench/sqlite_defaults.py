"""Our settings with Django's own SQLite options instead of ours: deferred
transactions, a 5 s busy timeout and a rollback journal. Section 9 runs the
same load against it, to show what config/settings.py's options are worth."""

from config.settings import *  # noqa: F403
from config.settings import DATABASES

DATABASES["default"]["OPTIONS"] = {}
