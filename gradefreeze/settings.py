"""Settings, read from the environment.

With nothing set, the embedded default runs: SQLite under ./var, Celery tasks
executed in-process, and the LMS is the project's sandbox on 127.0.0.1:18000.
"""

import os
from pathlib import Path

import dj_database_url

from dashboard.rate_limits import EDX_THROTTLES
from gradefreeze import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.text("GRADEFREEZE_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

# The embedded default (no DATABASE_URL) is a developer's machine; production sets DEBUG off.
DEBUG = env.boolean("DEBUG", "DATABASE_URL" not in os.environ)
SECRET_KEY = env.text("SECRET_KEY", "gradefreeze-insecure-development-key")
ALLOWED_HOSTS = env.items("ALLOWED_HOSTS", ["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "social_django",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "courses",
    "dashboard",
    "grades",
    "learners",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "learners.sign_in_errors.SignInErrorMiddleware",
]

ROOT_URLCONF = "gradefreeze.urls"
WSGI_APPLICATION = "gradefreeze.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "gradefreeze" / "templates"],  # the site's base template
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'gradefreeze.sqlite3'}",
        conn_max_age=env.integer("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite ignores select_for_update: take the write lock when a transaction begins,
    # and wait for it rather than fail, so concurrent freezes still serialize.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "dashboard.edx_auth.EdxOrgOAuth2",
    "django.contrib.auth.backends.ModelBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "gradefreeze" / "static"]  # the site's stylesheet
# WhiteNoise serves what collectstatic gathered on release (compressed, names hashed).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The REST API: staff only, a token (Authorization: Token ...) or the staff session; JSON.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "grades.rest.json_errors",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "gradefreeze",
    "DESCRIPTION": "Frozen final grades of course runs, their freeze, failures and audit.",
    "VERSION": "1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# The LMS (an Open edX instance, or the sandbox standing in for it).
EDXORG_BASE_URL = env.text("EDXORG_BASE_URL", "http://127.0.0.1:18000").rstrip("/") + "/"
SOCIAL_AUTH_EDXORG_KEY = env.text("EDXORG_CLIENT_ID", "gradefreeze")
SOCIAL_AUTH_EDXORG_SECRET = env.text("EDXORG_CLIENT_SECRET", "sandbox-secret")
# How access tokens are asked for and sent: "bearer", or "jwt" (asked with
# token_type=jwt, sent as `Authorization: JWT ...`, as edX's own services do).
# The LMS's ENABLE_UNICODE_USERNAME: which usernames its enrollment listing takes in a
# batch (the others are read one learner at a time).
EDX_UNICODE_USERNAMES = env.boolean("EDX_UNICODE_USERNAMES", False)
EDX_TOKEN_TYPE = env.choice("EDX_TOKEN_TYPE", "bearer", ("bearer", "jwt"))
EDX_REQUEST_TIMEOUT = env.number("EDX_REQUEST_TIMEOUT", 10)
# Refresh an access token this many seconds before it expires.
EDX_TOKEN_REFRESH_MARGIN = env.integer("EDX_TOKEN_REFRESH_MARGIN", 300)

# Timeouts and 5xx answers to GET requests are retried this many times, waiting
# EDX_RETRY_BACKOFF * 2**n seconds plus up to EDX_RETRY_BACKOFF of jitter in between.
EDX_RETRIES = env.integer("EDX_RETRIES", 3)
EDX_RETRY_BACKOFF = env.number("EDX_RETRY_BACKOFF", 0.5)
# Requests to each LMS endpoint, for all workers together (dashboard.rate_limits): by
# default edx-platform's own throttles; "NAME=RATE,..." changes some ("grades=600/m",
# "enrollments=off") where the LMS has throttling raised or disabled.
EDX_RATE_LIMITS = env.rates("EDX_RATE_LIMITS", EDX_THROTTLES)
# An answer refusing a request for its rate (429, or the token endpoint's 403) is sent
# again after a backoff for up to this many seconds; then the learner fails (throttled).
EDX_THROTTLE_PATIENCE = env.number("EDX_THROTTLE_PATIENCE", 300)
# An OAuth client with staff rights on the LMS (client-credentials grant): with one,
# a run is frozen course-wide, reading the run's grades and enrollments by pages.
EDXORG_STAFF_CLIENT_ID = env.text("EDXORG_STAFF_CLIENT_ID")
EDXORG_STAFF_CLIENT_SECRET = env.text("EDXORG_STAFF_CLIENT_SECRET")

# --- The learner site and "Sign in with edX" (the learners app) ---
# social-auth's authorization-code flow with PKCE (social_django.urls: /login/edxorg/,
# /complete/edxorg/); the standard pipeline, then the learners app's own step. Errors
# (consent denied, a bad state, the LMS down) are shown by learners.sign_in_errors.
SOCIAL_AUTH_URL_NAMESPACE = "social"
SOCIAL_AUTH_EDXORG_USE_PKCE = True
SOCIAL_AUTH_LOGIN_REDIRECT_URL = "/grades/"
SOCIAL_AUTH_RAISE_EXCEPTIONS = False
SOCIAL_AUTH_PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_names",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    "social_core.pipeline.user.get_username",
    "social_core.pipeline.user.create_user",
    "social_core.pipeline.social_auth.associate_user",
    "social_core.pipeline.social_auth.load_extra_data",
    "social_core.pipeline.user.user_details",
    "learners.pipeline.after_sign_in",
)
LOGIN_URL = "/"
LOGOUT_REDIRECT_URL = "/"
# The cache of a learner's edX enrollments is trusted this many seconds: the freeze of a
# run reads learners older than that again before it takes its population, and beat
# refreshes the stale ones every EDX_CACHE_REFRESH_SECONDS, in chunks of FREEZE_CHUNK_SIZE.
EDX_CACHE_MAX_AGE = env.integer("EDX_CACHE_MAX_AGE", 86400)
EDX_CACHE_REFRESH_SECONDS = env.integer("EDX_CACHE_REFRESH_SECONDS", 3600)
# Not Django's "sessionid", which is edx-platform's (and the sandbox's) too: cookies are
# per host, not per port, and the demo serves the platform and the LMS on one host.
SESSION_COOKIE_NAME = "gradefreeze_sessionid"

# Freezing.
# How a run is read from the LMS when the run itself says "auto": "course_wide",
# "per_learner", or "auto" (course-wide when a staff client is configured).
FREEZE_MODE = env.choice("FREEZE_MODE", "auto", ("auto", "course_wide", "per_learner"))
# Per-learner mode: learners per chunk task, and learners read at once within a task
# (threads of a worker process: the grants in flight a kill of it can lose). A chunk
# twice the threads keeps them busy while the chunk's slowest learners finish, and
# halves the writes: 437 against 385 learners/s at 10,000 in the benchmark.
FREEZE_CHUNK_SIZE = env.integer("FREEZE_CHUNK_SIZE", 100)
FREEZE_LEARNER_CONCURRENCY = env.integer("FREEZE_LEARNER_CONCURRENCY", 50)
# Course-wide mode: learners per page of the run's grades (a page is a chunk task),
# and requests in flight at once within a chunk.
FREEZE_PAGE_SIZE = env.integer("FREEZE_PAGE_SIZE", 1000)
FREEZE_PAGE_CONCURRENCY = env.integer("FREEZE_PAGE_CONCURRENCY", 64)
# A running chunk (or course-wide listing) renews its heartbeat this often; one silent
# for three heartbeats is taken as dead (its worker died), and once nothing else of its
# round runs or waits in the broker, the periodic task picks the run up.
FREEZE_HEARTBEAT_SECONDS = env.integer("FREEZE_HEARTBEAT_SECONDS", 10)
# A chunk delivered more often than this without finishing (it killed its worker, or
# ran past its time limit, every time) is given up: its learners fail (worker_lost).
FREEZE_MAX_DELIVERIES = env.integer("FREEZE_MAX_DELIVERIES", 3)
# How often beat starts the freeze of due runs and picks up the stalled ones.
FREEZE_SCHEDULE_SECONDS = env.integer("FREEZE_SCHEDULE_SECONDS", 30)
# How often beat sends again the learners who failed only for now (a certificate edX is
# still generating, a throttle past EDX_THROTTLE_PATIENCE).
FREEZE_RETRY_WAITING_SECONDS = env.integer("FREEZE_RETRY_WAITING_SECONDS", 600)

# Celery: with no broker configured, tasks run in-process (the embedded default).
REDIS_URL = env.text("REDIS_URL")
_broker_url = env.text("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not _broker_url
CELERY_BROKER_URL = _broker_url or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.text("CELERY_RESULT_BACKEND", REDIS_URL) or None
CELERY_TASK_DEFAULT_QUEUE = env.text("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# When the broker connection drops, running chunks go on to their end rather than
# being terminated (Celery 6's default): one killed between the LMS rotating a
# learner's refresh token and the commit of the new pair loses the learner's grant.
# A chunk's work is idempotent, so its unacknowledged message delivered again is harmless.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# No task holds a worker without end (an LMS that never answers, say): past the soft
# limit a chunk is interrupted, its transaction rolled back, and it is delivered again;
# at the hard limit its process is killed.
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("CELERY_TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 660)
# Redis hands a message not acknowledged after this long to another worker. Celery's
# default, written here because the hard time limit must stay below it (a chunk still
# running would otherwise run twice at once). The freeze does not wait for it: a chunk
# whose worker died is noticed by its heartbeat, and the message Redis gives back an
# hour later belongs to a round that is over, so it does nothing.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULE = {
    "freeze-due-course-runs": {
        "task": "grades.tasks.freeze_due_course_runs",
        "schedule": FREEZE_SCHEDULE_SECONDS,
    },
    "retry-waiting-learners": {
        "task": "grades.tasks.retry_waiting_learners",
        "schedule": FREEZE_RETRY_WAITING_SECONDS,
    },
    # The learners app's: the edX cache of every linked learner kept fresh.
    "refresh-edx-caches": {
        "task": "learners.tasks.refresh_edx_caches",
        "schedule": EDX_CACHE_REFRESH_SECONDS,
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": env.choice(
            "LOG_LEVEL", "WARNING", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        ),
    },
}

# Security and secrets: production (DEBUG off) is HTTPS-only by default; behind a
# proxy that terminates TLS set SECURE_PROXY_SSL_HEADER (e.g. HTTP_X_FORWARDED_PROTO).
SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", not DEBUG)
if env.text("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (env.text("SECURE_PROXY_SSL_HEADER"), "https")
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env.boolean("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env.boolean("CSRF_COOKIE_SECURE", not DEBUG)
CSRF_TRUSTED_ORIGINS = env.items("CSRF_TRUSTED_ORIGINS")
# Learners' edX tokens are encrypted at rest (dashboard.edx_tokens) with these Fernet
# keys: the first encrypts, all decrypt. Unset, a development key published here is
# used, which `check --deploy` refuses.
DEVELOPMENT_TOKEN_ENCRYPTION_KEY = "Z3JhZGVmcmVlemUtZGV2ZWxvcG1lbnQta2V5LW9ubHk="
TOKEN_ENCRYPTION_KEYS = env.items("TOKEN_ENCRYPTION_KEYS") or [DEVELOPMENT_TOKEN_ENCRYPTION_KEY]

SENTRY_DSN = env.text("SENTRY_DSN")
if SENTRY_DSN:
    import sentry_sdk

    from gradefreeze.redaction import sentry_options

    sentry_sdk.init(dsn=SENTRY_DSN, **sentry_options())
