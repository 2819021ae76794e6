"""Keeping the platform's cache of edX fresh: whose enrollments are too old, and reading
them again.

A learner's enrollments are trusted for EDX_CACHE_MAX_AGE seconds after they were read
whole (`LearnerRefresh`). The periodic refresh reads the stale ones in chunks; the freeze
of a run reads those still stale before its first round takes its population, so a learner who
enrolled since the last refresh is not left out. Each learner is read with their own
token (their enrollments, then the certificates and current grades of the runs they are
enrolled in), as at sign-in.
"""

import logging
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from dashboard.cache import stale_learner_ids, store_learner_reads
from dashboard.learner_reader import read_learners
from dashboard.token_refresh import EDX_PROVIDER

log = logging.getLogger(__name__)


def stale_linked_learners(max_age_seconds: int | None = None) -> list[int]:
    """Ids of the learners linked to edX whose enrollments are older than the max age
    (EDX_CACHE_MAX_AGE by default) or were never read, in id order."""
    max_age = settings.EDX_CACHE_MAX_AGE if max_age_seconds is None else max_age_seconds
    linked = get_user_model().objects.filter(social_auth__provider=EDX_PROVIDER)
    return sorted(stale_learner_ids(linked, max_age))


def refresh_learners(user_ids: Iterable[int]) -> tuple[int, int]:
    """Read these learners from edX again and cache what was read, in one transaction;
    returns (refreshed, failed). A learner who fails (edX refused their token, a fault)
    keeps the cache they had and stays stale."""
    users = list(get_user_model().objects.filter(id__in=list(user_ids)).order_by("id"))
    if not users:
        return 0, 0
    read = read_learners(users)
    with transaction.atomic():
        store_learner_reads(read.reads.values())
    for user_id, error in read.errors.items():
        log.info("edX cache of learner %d not refreshed: %s", user_id, error)
    return len(read.reads), len(read.errors)


def refresh_stale_learners(max_age_seconds: int | None = None) -> tuple[int, int]:
    """Read every stale linked learner again, a chunk (FREEZE_CHUNK_SIZE) at a time;
    returns (refreshed, failed)."""
    stale = stale_linked_learners(max_age_seconds)
    refreshed = failed = 0
    for start in range(0, len(stale), settings.FREEZE_CHUNK_SIZE):
        done, not_done = refresh_learners(stale[start : start + settings.FREEZE_CHUNK_SIZE])
        refreshed, failed = refreshed + done, failed + not_done
    return refreshed, failed
