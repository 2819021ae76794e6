"""The Celery app of a poisoned worker, for the fault suite: gradefreeze's own, except
that a chunk holding the learner POISON_USERNAME kills its own process (SIGKILL, as the
kernel's out-of-memory killer would) every time it runs, after its delivery is counted.

`celery -A tests.faults.poison_worker worker` with POISON_USERNAME set.
"""

import os
import signal

from celery.signals import worker_process_init

from gradefreeze.celery import app

__all__ = ["app"]


@worker_process_init.connect
def poison_the_chunks(**kwargs):
    """In each pool process, once Django is set up: wrap what a chunk does."""
    from django.contrib.auth.models import User

    from grades import chunks

    poison = os.environ["POISON_USERNAME"]
    freeze_users, freeze_course_page = chunks.freeze_users, chunks.freeze_course_page

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def poisoned_users(grading_status, user_ids):
        if User.objects.filter(id__in=user_ids, username=poison).exists():
            die()
        return freeze_users(grading_status, user_ids)

    def poisoned_page(grading_status, records):
        if any(isinstance(record, dict) and record.get("username") == poison for record in records):
            die()
        return freeze_course_page(grading_status, records)

    chunks.freeze_users = poisoned_users
    chunks.freeze_course_page = poisoned_page
