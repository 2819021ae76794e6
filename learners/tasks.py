"""Background work of a learner's sign-in."""

import logging

from celery import shared_task
from django.contrib.auth.models import User

from dashboard.api import EdxRefreshError, refresh_cached_data
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
