"""Background work of a learner's sign-in."""

import logging

from celery import shared_task
from django.conf import settings
from django.contrib.auth.models import User

from dashboard.api import (
    EdxRefreshError,
    refresh_cached_data,
    refresh_learners,
    stale_linked_learners,
)
from grades.api import freeze_at_sign_in
from grades.audit import acting_as

log = logging.getLogger(__name__)


def sign_in_actor(user: User) -> str:
    return f"sign-in of {user.get_username()}"


@shared_task(ignore_result=True)
def refresh_at_sign_in(user_id: int) -> str:
    """Refresh the learner's edX cache (their enrollments, certificates and current
    grades), then freeze their grade in runs frozen without them, audited as their sign-in."""
    user = User.objects.get(pk=user_id)
    try:
        refresh_cached_data(user)
    except EdxRefreshError as error:
        log.warning("sign-in of %s: edX data not refreshed: %s", user.get_username(), error)
        return f"not refreshed: {error}"
    with acting_as(sign_in_actor(user)):
        frozen = freeze_at_sign_in(user)
    return f"refreshed; frozen in {len(frozen)} runs"


@shared_task(ignore_result=True)
def refresh_edx_caches() -> int:
    """Periodic: send the stale linked learners (EDX_CACHE_MAX_AGE) to the workers in
    chunks of FREEZE_CHUNK_SIZE; returns how many chunks were sent.

    A chunk is idempotent and its message is acknowledged once it has run (acks_late): a
    chunk whose worker dies is delivered again, and who it had refreshed is fresh in the
    database, so the next round sends only who is still stale.
    """
    stale = stale_linked_learners()
    size = settings.FREEZE_CHUNK_SIZE
    chunks = [stale[start : start + size] for start in range(0, len(stale), size)]
    for user_ids in chunks:
        refresh_edx_cache_chunk.delay(user_ids)
    return len(chunks)


@shared_task(ignore_result=True)
def refresh_edx_cache_chunk(user_ids: list[int]) -> dict:
    """Read a chunk of learners from edX again, each with their own token."""
    refreshed, failed = refresh_learners(user_ids)
    return {"refreshed": refreshed, "failed": failed}
