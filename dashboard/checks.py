"""System checks of the keys that encrypt learners' edX tokens."""

from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register


@register(Tags.security)
def check_token_encryption_keys(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Every key must be a Fernet key: a malformed one would fail the first token saved."""
    errors: list[CheckMessage] = []
    for position, key in enumerate(settings.TOKEN_ENCRYPTION_KEYS, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"Key {position} of TOKEN_ENCRYPTION_KEYS is not a Fernet key "
                    "(32 url-safe base64-encoded bytes).",
                    hint='Generate one with: python -c "from cryptography.fernet import '
                    'Fernet; print(Fernet.generate_key().decode())"',
                    id="dashboard.E002",
                )
            )
    return errors


@register(Tags.security, deploy=True)
def check_token_encryption_keys_are_set(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Without TOKEN_ENCRYPTION_KEYS tokens are encrypted with the public development key."""
    if settings.DEVELOPMENT_TOKEN_ENCRYPTION_KEY in settings.TOKEN_ENCRYPTION_KEYS:
        return [
            Error(
                "TOKEN_ENCRYPTION_KEYS is not set (or holds the development key): learners' "
                "edX tokens would be encrypted with a key published in the source code.",
                hint="Set TOKEN_ENCRYPTION_KEYS to a key of your own; docs/runbook.md, "
                "section Secrets, says how to generate and rotate it.",
                id="dashboard.E001",
            )
        ]
    return []
