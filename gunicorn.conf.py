"""gunicorn settings for every multi-process deployment: `make stack` and the web image.

gunicorn reads this file from its working directory; command-line flags override it.
"""

import importlib

wsgi_app = "inferapi.wsgi:application"
worker_class = "gthread"
workers = 2
threads = 4
timeout = 30
graceful_timeout = 5
# Longer than the external Nginx's upstream keepalive_timeout (60 s).
keepalive = 65
# gunicorn 27's control socket defaults to one path in $HOME, shared by every instance.
control_socket_disable = True


def on_starting(server) -> None:
    """Refuse to start without Redis: each worker process would count its own rate limit."""
    settings = importlib.import_module("inferapi.settings")
    if not settings.REDIS_URL:
        raise SystemExit(
            "REDIS_URL must be set under gunicorn: the rate limit and the revocation list must "
            "be shared by every worker and replica (the in-process cache is for `make run` only)."
        )
