"""Re-encrypt every learner's edX tokens with the first key of TOKEN_ENCRYPTION_KEYS."""

from typing import Any

from django.conf import settings

from dashboard.edx_tokens import reencrypt_all_tokens
from gradefreeze.commands import OperatorCommand


class Command(OperatorCommand):
    help = (
        "Re-encrypt the access and refresh tokens of every edX link with the first key of "
        "TOKEN_ENCRYPTION_KEYS (plaintext ones too). Run it after adding a new key in front; "
        "then the old keys can be dropped."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = reencrypt_all_tokens()
        keys = len(settings.TOKEN_ENCRYPTION_KEYS)
        self.stdout.write(
            f"Re-encrypted the tokens of {count} edX links with the first of the {keys} "
            "keys of TOKEN_ENCRYPTION_KEYS; the others are no longer needed."
        )
