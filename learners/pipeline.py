"""The learners app's step of social-auth's pipeline, after the standard ones.

By then the learner has a User and their edX link holds fresh tokens (encrypted by
dashboard.edx_tokens) with the time they were issued (`auth_time`).
"""

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from grades.api import release_refused_tokens


def after_sign_in(user: User | None = None, **kwargs: Any) -> None:
    """Their failures for refused tokens in runs still being frozen become left (the
    next round reads them); then, once committed, their edX cache is refreshed and any
    run frozen without them is frozen for them, in the background."""
    if user is None:
        return
    from learners.tasks import refresh_at_sign_in

    release_refused_tokens(user)
    user_id = user.pk
    transaction.on_commit(lambda: refresh_at_sign_in.delay(user_id))
