"""Learners' edX access tokens, refreshed with social-core's refresh-token grant.

edX rotates the refresh token on every use, so refreshing is the one LMS call that
must never happen twice for a learner at once, and whose answer must be saved.
"""

import time
from collections.abc import Callable, Iterable
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from social_core.backends.oauth import BaseOAuth2
from social_core.exceptions import SocialAuthBaseException
from social_core.storage import UserMixin
from social_django.models import UserSocialAuth
from social_django.utils import load_strategy

from dashboard.edx_tokens import encrypted_tokens
from dashboard.failures import EdxRefreshError, Reason, Stage, learner_error
from dashboard.lms_client import concurrently

EDX_PROVIDER = "edxorg"

# What a learner's read gives once their token is fresh: its result, or what it raised.
ReadOutcome = Any


def edx_links(users: Iterable[User]) -> dict[int, UserSocialAuth]:
    """{user id: the learner's edX link} for those of `users` who have one."""
    links = UserSocialAuth.objects.filter(provider=EDX_PROVIDER, user__in=list(users))
    return {link.user_id: link for link in links}


def user_ids_by_edx_username(usernames: Iterable[str]) -> dict[str, int]:
    """{edX username: user id} of the learners linked to these edX accounts."""
    links = UserSocialAuth.objects.filter(provider=EDX_PROVIDER, uid__in=list(usernames))
    return dict(links.values_list("uid", "user_id"))


def _token_expires_soon(link: UserSocialAuth) -> bool:
    issued = link.extra_data.get("auth_time")
    lifetime = link.extra_data.get("expires_in")
    if not issued or not lifetime:
        return True
    try:
        expires_at = int(issued) + int(lifetime)
    except (TypeError, ValueError):
        return True
    return expires_at - settings.EDX_TOKEN_REFRESH_MARGIN <= time.time()


def refresh_tokens(
    links: dict[int, UserSocialAuth],
    then: Callable[[UserSocialAuth], ReadOutcome] | None = None,
) -> tuple[dict[int, UserSocialAuth], dict[int, EdxRefreshError], dict[int, ReadOutcome]]:
    """Refresh the access tokens of `links` that are due, many at once; returns the
    links as saved, {user id: EdxRefreshError} for those that could not be, and what
    `then` gave.

    The due rows stay locked from before the grant until the new tokens are saved: two
    workers refreshing one learner at once would otherwise spend the same refresh token
    twice, and the second would fail. The grants are social-core's (backend `edxorg`);
    only the saving happens here, in this thread, because the lock belongs to this
    thread's transaction.

    With `then`, each learner's `then(link)` (their reads) runs in the thread that made
    their token fresh, right after the grant, so that a chunk's grants and reads overlap
    instead of following each other: {user id: its result or the exception it raised}.
    """
    errors: dict[int, EdxRefreshError] = {}
    outcomes: dict[int, ReadOutcome] = {}
    fresh = dict(links)
    due = [link.pk for link in links.values() if _token_expires_soon(link)]
    if then is not None:
        ready = [link for link in links.values() if link.pk not in due]
        for link, outcome in concurrently(then, ready, settings.FREEZE_LEARNER_CONCURRENCY):
            outcomes[link.user_id] = outcome
    strategy = load_strategy()
    # A batch of as many as are in flight at once, committed before the next: the
    # rotated pairs of a transaction that never commits (its worker killed, the
    # database restarted) are lost for good, and so are those learners' grants.
    size = max(settings.FREEZE_LEARNER_CONCURRENCY, 1)
    for start in range(0, len(due), size):
        _refresh_batch(due[start : start + size], strategy, fresh, errors, then, outcomes)
    for user_id, link in fresh.items():
        if user_id not in errors and not link.extra_data.get("access_token"):
            errors[user_id] = EdxRefreshError(Stage.TOKEN_REFRESH, Reason.NO_ACCESS_TOKEN)
    return fresh, errors, outcomes


def _refresh_batch(
    due: list[int],
    strategy: Any,
    fresh: dict[int, UserSocialAuth],
    errors: dict[int, EdxRefreshError],
    then: Callable[[UserSocialAuth], ReadOutcome] | None,
    outcomes: dict[int, ReadOutcome],
) -> None:
    with transaction.atomic():
        locked = UserSocialAuth.objects.select_for_update().select_related("user")
        rows = list(locked.filter(pk__in=due))
        fresh.update((link.user_id, link) for link in rows)
        todo = [link for link in rows if _token_expires_soon(link)]
        if then is not None:
            for link in rows:
                if link not in todo:  # refreshed by another worker meanwhile
                    outcomes[link.user_id] = _outcome(then, link)
        if not todo:
            return
        backend = cast(BaseOAuth2, todo[0].get_backend_instance(strategy))

        def grant(link: UserSocialAuth) -> tuple[bool, ReadOutcome]:
            token = backend.get_refresh_token(link.extra_data)
            if not token:
                raise EdxRefreshError(Stage.TOKEN_REFRESH, Reason.REAUTHENTICATION_REQUIRED)
            answer = backend.refresh_token(
                token, **backend.get_refresh_token_kwargs(link.extra_data)
            )
            extra = backend.extra_data(link.user, link.uid, answer, link.extra_data or {}, {})
            # social-core's merge of the new token fields, without social_django's save:
            # the batch is saved by the thread that holds its lock.
            changed = UserMixin.set_extra_data(link, extra)
            return changed, None if then is None else _outcome(then, link)

        granted = []
        for link, answer in concurrently(grant, todo, settings.FREEZE_LEARNER_CONCURRENCY):
            if isinstance(answer, SocialAuthBaseException):
                code = getattr(answer, "code", None) or type(answer).__name__
                error = EdxRefreshError(
                    Stage.TOKEN_REFRESH, code, getattr(answer, "status_code", None)
                )
                error.__cause__ = answer  # what social-core said, for whoever debugs it
                errors[link.user_id] = error
            elif isinstance(answer, Exception):
                errors[link.user_id] = learner_error(answer, Stage.TOKEN_REFRESH)
            else:
                changed, outcomes[link.user_id] = answer
                if changed:
                    granted.append(link)
        _save_tokens(granted)


def _outcome(
    function: Callable[[UserSocialAuth], ReadOutcome], link: UserSocialAuth
) -> ReadOutcome:
    try:
        return function(link)
    except Exception as error:  # the caller decides, learner by learner
        return error


def _save_tokens(links: list[UserSocialAuth]) -> None:
    """Save the links' new tokens in one UPDATE, encrypted as a save would encrypt them
    (bulk_update skips the save signals); the links keep their plaintext."""
    plaintext = [link.extra_data for link in links]
    now = timezone.now()
    for link in links:
        link.extra_data = encrypted_tokens(link.extra_data)
        link.modified = now
    try:
        UserSocialAuth.objects.bulk_update(links, ["extra_data", "modified"])
    finally:
        for link, extra_data in zip(links, plaintext, strict=True):
            link.extra_data = extra_data
