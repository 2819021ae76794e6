"""Learners' edX tokens encrypted at rest.

A learner's edX link is social-auth's `UserSocialAuth`, whose `extra_data`
holds the access and refresh tokens. Everyone (social-core's refresh, the
freeze, the runbook's shell lines) reads and writes them there as plaintext, so
the encryption sits at the boundary with the database: a link's two token
values are encrypted just before it is saved and decrypted as it is loaded.
The database column holds `fernet:<ciphertext>`; a value without that prefix is
a plaintext token stored before encryption existed, read as it is and
encrypted on its next save or by `reencrypt_edx_tokens`.

Keys come from TOKEN_ENCRYPTION_KEYS (comma-separated Fernet keys): the first
encrypts, all decrypt, which is what lets an operator rotate them.

Bulk writes (`bulk_create`, `bulk_update`, `QuerySet.update`) skip the save
signals: build their links with `unsaved_link_with_encrypted_tokens`, or set
`extra_data` to `encrypted_tokens(...)` just before writing.
"""

import functools
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_init, post_save, pre_save
from social_django.models import UserSocialAuth

TOKEN_FIELDS = ("access_token", "refresh_token")
CIPHERTEXT_PREFIX = "fernet:"
REENCRYPT_BATCH = 500


class TokenDecryptionError(Exception):
    """A stored token was encrypted with a key that TOKEN_ENCRYPTION_KEYS no longer holds."""


@functools.cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def token_fernet() -> MultiFernet:
    """The MultiFernet of TOKEN_ENCRYPTION_KEYS: the first key encrypts, every key decrypts."""
    return _fernet(tuple(settings.TOKEN_ENCRYPTION_KEYS))


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(CIPHERTEXT_PREFIX)


def encrypt_token(value: Any) -> Any:
    if not isinstance(value, str) or not value or is_encrypted(value):
        return value
    return CIPHERTEXT_PREFIX + token_fernet().encrypt(value.encode()).decode()


def decrypt_token(value: Any) -> Any:
    if not is_encrypted(value):
        return value
    try:
        return token_fernet().decrypt(value.removeprefix(CIPHERTEXT_PREFIX).encode()).decode()
    except InvalidToken:
        raise TokenDecryptionError(
            "an edX token is encrypted with a key missing from TOKEN_ENCRYPTION_KEYS"
        ) from None


def _with_tokens(extra_data: Any, transform: Callable[[Any], Any]) -> Any:
    if not isinstance(extra_data, dict):
        return extra_data
    return {
        key: transform(value) if key in TOKEN_FIELDS else value for key, value in extra_data.items()
    }


def encrypted_tokens(extra_data: Any) -> Any:
    """A copy of `extra_data` whose token values are ciphertext, as the column keeps them."""
    return _with_tokens(extra_data, encrypt_token)


def decrypted_tokens(extra_data: Any) -> Any:
    """A copy of `extra_data` whose token values are plaintext, as code reads them."""
    return _with_tokens(extra_data, decrypt_token)


def unsaved_link_with_encrypted_tokens(**fields: Any) -> UserSocialAuth:
    """A new, unsaved edX link whose tokens are already ciphertext, for a bulk write
    (which skips the save signals)."""
    link = UserSocialAuth(**fields)
    link.extra_data = encrypted_tokens(link.extra_data)
    return link


def _loaded(link: UserSocialAuth) -> bool:
    """False when `extra_data` was deferred: touching it would cost a query."""
    return "extra_data" in link.__dict__


def _decrypt_on_load(sender: type, instance: UserSocialAuth, **kwargs: Any) -> None:
    if _loaded(instance):
        instance.extra_data = decrypted_tokens(instance.extra_data)


def _encrypt_before_save(sender: type, instance: UserSocialAuth, **kwargs: Any) -> None:
    """The instance holds ciphertext only while it is written (post_save puts the
    plaintext back); a save that raises leaves it with ciphertext, to be reloaded."""
    if _loaded(instance):
        instance.__dict__["_plaintext_extra_data"] = instance.extra_data
        instance.extra_data = encrypted_tokens(instance.extra_data)


def _plaintext_after_save(sender: type, instance: UserSocialAuth, **kwargs: Any) -> None:
    if "_plaintext_extra_data" in instance.__dict__:
        instance.extra_data = instance.__dict__.pop("_plaintext_extra_data")


def connect_token_encryption() -> None:
    """Encrypt tokens on every save of an edX link and decrypt them on every load."""
    uid = "dashboard.edx_tokens"
    post_init.connect(_decrypt_on_load, sender=UserSocialAuth, dispatch_uid=uid)
    pre_save.connect(_encrypt_before_save, sender=UserSocialAuth, dispatch_uid=uid)
    post_save.connect(_plaintext_after_save, sender=UserSocialAuth, dispatch_uid=uid)


def reencrypt_all_tokens(batch_size: int = REENCRYPT_BATCH) -> int:
    """Re-encrypt every link's tokens with the first key (and plaintext ones for the first time).

    Each batch is locked while it is rewritten: a refresh at the same time would
    otherwise have its new tokens overwritten by the old ones. Returns the
    number of links rewritten.
    """
    ids = list(UserSocialAuth.objects.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), batch_size):
        with transaction.atomic():
            links = list(
                UserSocialAuth.objects.select_for_update()
                .filter(id__in=ids[start : start + batch_size])
                .order_by("id")
            )
            for link in links:
                link.extra_data = encrypted_tokens(link.extra_data)
            UserSocialAuth.objects.bulk_update(links, ["extra_data"])
    return len(ids)
