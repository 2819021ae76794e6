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


@register(Tags.security, deploy=True)
def check_two_oauth_clients(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Learners' client (authorization code) and the staff client (client credentials) are
    two clients: edX gives each one grant type, and only the staff one a staff user
    (oauth_dispatch/models.py, django-oauth-toolkit's Application.authorization_grant_type)."""
    if settings.EDXORG_STAFF_CLIENT_ID and (
        settings.EDXORG_STAFF_CLIENT_ID == settings.SOCIAL_AUTH_EDXORG_KEY
    ):
        return [
            Error(
                "EDXORG_STAFF_CLIENT_ID is the same client as EDXORG_CLIENT_ID: edX gives a "
                "client one grant type, so one client cannot both sign learners in "
                "(authorization code) and read whole runs (client credentials).",
                hint="Register a second OAuth application on the LMS, with the client-"
                "credentials grant and a staff user, and set EDXORG_STAFF_CLIENT_ID/SECRET "
                "to it.",
                id="dashboard.E003",
            )
        ]
    return []
