"""gunicorn's settings for this app; gunicorn reads this file from the working
directory, so `gunicorn config.wsgi` uses it (README, Production).

A sign-in waits on the organization's IdP (the token request, bounded by
OUTBOUND_CONNECT_TIMEOUT + OUTBOUND_READ_TIMEOUT and a total deadline). With
gunicorn's default single sync worker one slow IdP would hold every other
organization's console; threads let other requests run meanwhile. Each value
can be changed from the environment.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Processes: one per core. Threads: requests waiting on an IdP, DNS or the
# database do not hold a core.
workers = int(os.environ.get("GUNICORN_WORKERS", str(os.cpu_count() or 2)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Longer than any request of ours can take (every outbound call is bounded by
# its deadline), so a worker is only killed when it is truly stuck.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, with jitter so they do not restart together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = max_requests // 10
# gunicorn 27 opens a control socket per user by default; a second server on
# the same machine would take it.
control_socket_disable = True
accesslog = "-"
