"""The settings the test suite and the type checker load: the development settings `make run` uses.

Debug is off unless asked for (S08), and with it off the settings refuse to load without a real
secret key. The suite runs the development shape (DJANGO_DEBUG=1, as `make test` sets it too) unless
the environment says otherwise; tests of production behaviour start their own process with
DJANGO_DEBUG=0 and DJANGO_SETTINGS_MODULE=config.settings.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "1")

from config.settings import *  # noqa: F403
