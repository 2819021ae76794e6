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


def unsaved_user(username: str, learner: dict):
    """The platform's user for a dataset learner, unsaved."""
    return get_user_model()(username=username, email=learner.get("email", ""))


def unsaved_learner_rows(
    user_id: int, username: str, learner: dict, runs: dict[str, int], now, issued: int
) -> tuple[UserSocialAuth, list[CachedEnrollment], list[CachedCurrentGrade]]:
    """A dataset learner's edX link (tokens encrypted, issued at `issued`), and the cached
    enrollments and grades of the course runs in `runs` (ids by key), unsaved: the one
    shape of these rows for every writer (the demo's upserts, the benchmark's COPY)."""
    link = unsaved_link_with_encrypted_tokens(
        user_id=user_id,
        provider=EDX_PROVIDER,
        id_key="username",  # as a sign-in with edX stores it
        uid=username,
        extra_data={
            "access_token": learner["access_token"],
            "refresh_token": learner["refresh_token"],
            "expires_in": 36000,
            "auth_time": issued,
            "token_type": "Bearer",
        },
    )
    enrollments = [
        CachedEnrollment(
            user_id=user_id,
            course_run_id=runs[enrollment["course_details"]["course_id"]],
            data=enrollment,
            refreshed_on=now,
        )
        for enrollment in learner.get("enrollments", [])
        if enrollment["course_details"]["course_id"] in runs
    ]
    grades = [
        CachedCurrentGrade(
            user_id=user_id, course_run_id=runs[grade["course_id"]], data=grade, refreshed_on=now
        )
        for grade in learner.get("grades", [])
        if grade["course_id"] in runs
    ]
    return link, enrollments, grades


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
                [unsaved_user(name, learners[name]) for name in batch], ignore_conflicts=True
            )
        user_ids = dict(
            User.objects.filter(username__in=list(learners)).values_list("username", "id")
        )
        runs = {run.edx_course_key: run.id for run in CourseRun.objects.all()}
        links, enrollments, grades = [], [], []
        for name, learner in learners.items():
            link, learner_enrollments, learner_grades = unsaved_learner_rows(
                user_ids[name], name, learner, runs, now, issued
            )
            links.append(link)
            enrollments.extend(learner_enrollments)
            grades.extend(learner_grades)
        _upsert(
            UserSocialAuth,
            links,
            unique_fields=["provider", "uid"],
            update_fields=["user", "id_key", "extra_data"],
        )
        fields = dict(unique_fields=["user", "course_run"], update_fields=["data", "refreshed_on"])
        _upsert(CachedEnrollment, enrollments, **fields)
        _upsert(CachedCurrentGrade, grades, **fields)
        # What was seeded is what the sandbox serves: as fresh as a refresh now.
        for batch in _batches(list(user_ids.values())):
            mark_enrollments_refreshed(batch, now)
    return len(learners)
