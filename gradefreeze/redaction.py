"""Keeping tokens, client secrets and passwords out of logs and Sentry.

Names are not enough: a refresh token also travels inside request bodies
(`refresh_token=...&client_secret=...`), Authorization headers and URLs, which
end up in log lines and in the local variables Sentry attaches to each frame.
So text is redacted by shape (`name=value`, `"name": "value"`, `Bearer value`,
`scheme://user:password@host`) and by value for the secrets the settings hold.
"""

import logging
import re
from urllib.parse import urlsplit

from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

REDACTED = "[redacted]"

SECRET_NAMES = (
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "password",
    "secret",
    "token",
    "authorization",
)
_NAMED = re.compile(
    r"(?i)(?<![a-z0-9])(" + "|".join(SECRET_NAMES) + r")"
    r"""(["']?\s*[:=]\s*(?:bearer\s+|basic\s+)?["']?)([^\s"'&,;}\]]+)"""
)
_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[a-z0-9\-._~+/]+=*")
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^:/@\s]*:)([^@/\s]+)(@)")

_SECRET_KEYS = frozenset(name.lower() for name in (*DEFAULT_DENYLIST, *SECRET_NAMES))

# Secrets known by value shorter than this are not searched for: they would
# mangle ordinary text more than they protect.
_MIN_KNOWN_LENGTH = 8


def known_secrets():
    """The secret values the settings hold, longest first."""
    from django.conf import settings

    if not settings.configured:
        return []
    values = [
        getattr(settings, "SECRET_KEY", ""),
        getattr(settings, "SOCIAL_AUTH_EDXORG_SECRET", ""),
        getattr(settings, "EDXORG_STAFF_CLIENT_SECRET", ""),
        *getattr(settings, "TOKEN_ENCRYPTION_KEYS", []),
        *(db.get("PASSWORD") or "" for db in getattr(settings, "DATABASES", {}).values()),
    ]
    for url in (getattr(settings, "REDIS_URL", ""), getattr(settings, "CELERY_BROKER_URL", "")):
        try:
            values.append(urlsplit(url).password or "")
        except ValueError:
            continue
    return sorted(
        {value for value in values if isinstance(value, str) and len(value) >= _MIN_KNOWN_LENGTH},
        key=len,
        reverse=True,
    )


def redact(text):
    """`text` without token, secret or password values."""
    if not isinstance(text, str) or not text:
        return text
    for value in known_secrets():
        text = text.replace(value, REDACTED)
    text = _NAMED.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    text = _SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)


def _redact_tree(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(key, str) and key.lower() in _SECRET_KEYS
            else _redact_tree(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_tree(item) for item in value]
    return value


def install_log_redaction():
    """Redact every log record this process creates, whatever handler emits it.

    A record factory rather than a handler filter: Celery workers replace the
    root logger's handlers with their own, and the message and traceback must be
    clean before any handler (or Sentry's logging integration) sees them.
    """
    create = logging.getLogRecordFactory()
    if getattr(create, "redacts_secrets", False):
        return

    def redacted_record(*args, **kwargs):
        record = create(*args, **kwargs)
        try:
            record.msg, record.args = redact(record.getMessage()), None
        except Exception:  # a malformed format: let logging report it as usual
            return record
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    redacted_record.redacts_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacted_record)


def scrub_sentry_event(event, hint):
    """before_send: redact every string of the event, frames' local variables included."""
    return _redact_tree(event)


def scrub_sentry_breadcrumb(crumb, hint):
    return _redact_tree(crumb)


def sentry_options():
    """What sentry_sdk.init needs so that no secret leaves the process.

    sentry-sdk's scrubber removes values by key name, recursively (local
    variables are dicts too); before_send then redacts by shape and value.
    """
    return {
        # sentry-sdk 2.x deprecates this for `data_collection`, but that one turns the
        # event scrubber off; until it scrubs by key recursively, keep the scrubber.
        "send_default_pii": False,
        "event_scrubber": EventScrubber(
            denylist=[*DEFAULT_DENYLIST, *SECRET_NAMES],
            recursive=True,
        ),
        "before_send": scrub_sentry_event,
        "before_send_transaction": scrub_sentry_event,
        "before_breadcrumb": scrub_sentry_breadcrumb,
    }
