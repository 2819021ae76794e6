"""Seeding the platform's side of a sandbox dataset: runs, learners, edX links and cache.

The demo, the tests and the benchmark seed the database from the same dataset
the sandbox serves, so both sides agree on who is enrolled and on the tokens.
"""

import time

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from social_django.models import UserSocialAuth

from courses.models import Course, CourseRun, Program
from dashboard.api import EDX_PROVIDER
from dashboard.cache import mark_enrollments_refreshed
from dashboard.edx_tokens import unsaved_link_with_encrypted_tokens
from dashboard.models import CachedCurrentGrade, CachedEnrollment

BATCH = 2000
# Seeded access tokens are taken as issued a day ago: long expired, so the
# first use exercises the refresh-token grant.
TOKEN_AGE_SECONDS = 86400


def seed_course_run(edx_course_key, freeze_grade_date, has_exam=False, program="Demo program"):
    program, _ = Program.objects.get_or_create(title=program)
    course, _ = Course.objects.update_or_create(
        program=program,
        title=f"Course of {edx_course_key}",
        defaults={"has_exam": has_exam},
    )
    course_run, _ = CourseRun.objects.update_or_create(
        edx_course_key=edx_course_key,
        defaults={"course": course, "freeze_grade_date": freeze_grade_date},
    )
    return course_run


def _batches(rows):
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _upsert(model, rows, unique_fields, update_fields):
    for batch in _batches(rows):
        model.objects.bulk_create(
            batch, update_conflicts=True, unique_fields=unique_fields, update_fields=update_fields
        )


def seed_learners(dataset):
    """Create or update the dataset's learners with their tokens, enrollments and grades.

    Only course runs the platform knows are cached. Returns the number of learners.
    """
    learners = dataset["learners"]
    User = get_user_model()
    now = timezone.now()
    issued = int(time.time()) - TOKEN_AGE_SECONDS
    with transaction.atomic():
        for batch in _batches(list(learners)):
            User.objects.bulk_create(
                [User(username=name, email=learners[name].get("email", "")) for name in batch],
                ignore_conflicts=True,
            )
        user_ids = dict(
            User.objects.filter(username__in=list(learners)).values_list("username", "id")
        )
        _upsert(
            UserSocialAuth,
            [
                unsaved_link_with_encrypted_tokens(
                    user_id=user_ids[name],
                    provider=EDX_PROVIDER,
                    id_key="username",  # as a sign-in with edX stores it
                    uid=name,
                    extra_data={
                        "access_token": learner["access_token"],
                        "refresh_token": learner["refresh_token"],
                        "expires_in": 36000,
                        "auth_time": issued,
                        "token_type": "Bearer",
                    },
                )
                for name, learner in learners.items()
            ],
            unique_fields=["provider", "uid"],
            update_fields=["user", "id_key", "extra_data"],
        )
        runs = {run.edx_course_key: run.id for run in CourseRun.objects.all()}
        enrollments, grades = [], []
        for name, learner in learners.items():
            for enrollment in learner.get("enrollments", []):
                key = enrollment["course_details"]["course_id"]
                if key in runs:
                    enrollments.append(
                        CachedEnrollment(
                            user_id=user_ids[name],
                            course_run_id=runs[key],
                            data=enrollment,
                            refreshed_on=now,
                        )
                    )
            for grade in learner.get("grades", []):
                if grade["course_id"] in runs:
                    grades.append(
                        CachedCurrentGrade(
                            user_id=user_ids[name],
                            course_run_id=runs[grade["course_id"]],
                            data=grade,
                            refreshed_on=now,
                        )
                    )
        fields = dict(unique_fields=["user", "course_run"], update_fields=["data", "refreshed_on"])
        _upsert(CachedEnrollment, enrollments, **fields)
        _upsert(CachedCurrentGrade, grades, **fields)
        # What was seeded is what the sandbox serves: as fresh as a refresh now.
        for batch in _batches(list(user_ids.values())):
            mark_enrollments_refreshed(batch, now)
    return len(learners)
