"""The settings the test suite and the type checker load: the development settings `make run` uses.

Debug is off unless asked for (S08), and with it off the settings refuse to load without a real
secret key. The suite runs the development shape (DJANGO_DEBUG=1, as `make test` sets it too) unless
the environment says otherwise; tests of production behaviour start their own process with
DJANGO_DEBUG=0 and DJANGO_SETTINGS_MODULE=config.settings.

Two changes for speed and for running in parallel:

- Passwords are hashed with MD5 first: PBKDF2 at a million iterations costs about a second of CPU
  per hash, in hundreds of tests. The production hashers stay in the list, so a hash they made still
  verifies. Tests about the production hash set ``settings.PASSWORD_HASHERS`` themselves.
- Under pytest-xdist each worker (gw0, gw1, …) gets its own Redis database, ``REDIS_URL``'s number
  plus the worker's (minus, where plus would pass Redis's last database, 15: `make test` uses 15, so
  gw1 takes 14): tests clear the cache and the Celery broker, which must not empty the other worker's.
  The environment is changed too, so the Celery workers the reliability tests start use the same
  database. pytest-django already gives each xdist worker its own PostgreSQL database.
"""

import os
from urllib.parse import urlparse, urlunparse

os.environ.setdefault("DJANGO_DEBUG", "1")


REDIS_LAST_DATABASE = 15  # Redis's default ``databases 16``


def _xdist_redis_url(url: str, worker: str) -> str:
    """``redis://host:port/N`` with N moved by the xdist worker's number (gw0 keeps N)."""
    if not url or not worker.startswith("gw"):
        return url
    parsed = urlparse(url)
    base, number = int(parsed.path.strip("/") or 0), int(worker[2:])
    database = base + number if base + number <= REDIS_LAST_DATABASE else base - number
    return urlunparse(parsed._replace(path=f"/{database}"))


if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get("ANZEN_TEST_REDIS_WORKER"):
    os.environ["REDIS_URL"] = _xdist_redis_url(os.environ.get("REDIS_URL", ""), os.environ["PYTEST_XDIST_WORKER"])
    if os.environ.get("CELERY_BROKER_URL"):
        os.environ["CELERY_BROKER_URL"] = _xdist_redis_url(os.environ["CELERY_BROKER_URL"], os.environ["PYTEST_XDIST_WORKER"])
    # Once per process: a second import of these settings (a subprocess inherits the environment) must not move it again.
    os.environ["ANZEN_TEST_REDIS_WORKER"] = os.environ["PYTEST_XDIST_WORKER"]

from config.settings import *  # noqa: E402, F403
from config.settings import PASSWORD_HASHERS as _PRODUCTION_HASHERS  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *_PRODUCTION_HASHERS]
