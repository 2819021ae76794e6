"""The learner site's pages (Django's test client): the home page, a learner's own final
grades, the "link your edX account again" button, sign-out."""

import time

import pytest
from django.utils import timezone
from social_django.models import UserSocialAuth

from dashboard.failures import Reason, Stage
from tests.factories import (
    CachedEnrollmentFactory,
    CourseRunFactory,
    CourseRunGradingStatusFactory,
    FinalGradeFactory,
    FreezeFailureFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def linked(user, signed_in_at=None):
    UserSocialAuth.objects.create(
        user=user,
        provider="edxorg",
        uid=user.username,
        extra_data={
            "access_token": "at",
            "refresh_token": "rt",
            "expires_in": 36000,
            "auth_time": int(signed_in_at or time.time()),
        },
    )
    return user


def test_the_site_root_says_what_the_platform_is_with_sign_in_with_edx(client):
    page = client.get("/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "The install worked" not in text
    assert "final grade" in text and "Sign in with edX" in text
    assert 'action="/login/edxorg/"' in text


def test_my_final_grades_needs_a_signed_in_learner(client):
    assert client.get("/grades/")["Location"] == "/?next=/grades/"


def test_a_learner_sees_their_frozen_grade_and_their_runs_not_frozen_yet(client):
    learner = linked(UserFactory())
    frozen = FinalGradeFactory(user=learner, grade=0.874, passed=True)
    CachedEnrollmentFactory(user=learner, course_run=frozen.course_run)
    later = CourseRunFactory(freeze_grade_date=timezone.now() + timezone.timedelta(days=30))
    CachedEnrollmentFactory(user=learner, course_run=later)
    client.force_login(learner)

    text = client.get("/grades/").content.decode()

    assert frozen.course_run.edx_course_key in text and "87.4%" in text
    assert "Not frozen yet" in text and later.edx_course_key in text
    assert "will be taken from edX on" in text
    assert f"{later.freeze_grade_date:%-d %B %Y}" in text
    assert "Link your edX account again" not in text


def test_a_learner_sees_only_their_own_grades(client):
    me, other = linked(UserFactory()), linked(UserFactory())
    mine = FinalGradeFactory(user=me, grade=0.5)
    theirs = FinalGradeFactory(user=other, grade=0.99)
    CachedEnrollmentFactory(user=other, course_run=mine.course_run)
    client.force_login(me)

    text = client.get("/grades/").content.decode()

    assert mine.course_run.edx_course_key in text and "50.0%" in text
    assert theirs.course_run.edx_course_key not in text and "99.0%" not in text


def test_a_learner_whose_tokens_edx_refused_since_signing_in_is_asked_to_link_again(client):
    learner = linked(UserFactory(), signed_in_at=time.time() - 3600)
    FreezeFailureFactory(
        grading_status=CourseRunGradingStatusFactory(),
        user=learner,
        stage=Stage.TOKEN_REFRESH,
        reason=Reason.REAUTHENTICATION_REQUIRED,
    )
    client.force_login(learner)

    text = client.get("/grades/").content.decode()

    assert "Link your edX account again" in text


def test_a_refusal_before_the_learner_linked_again_asks_nothing(client):
    learner = UserFactory()
    FreezeFailureFactory(
        user=learner, stage=Stage.TOKEN_REFRESH, reason=Reason.REAUTHENTICATION_REQUIRED
    )
    linked(learner, signed_in_at=time.time() + 5)
    client.force_login(learner)

    assert "Link your edX account again" not in client.get("/grades/").content.decode()


def test_signing_out_ends_the_session(client):
    client.force_login(linked(UserFactory()))

    assert client.post("/sign-out/")["Location"] == "/"

    assert client.get("/grades/").status_code == 302
    assert client.get("/sign-out/").status_code == 405


def test_a_run_past_its_freeze_date_not_frozen_yet_says_grading_closed(client):
    learner = linked(UserFactory())
    due = CachedEnrollmentFactory(user=learner).course_run
    client.force_login(learner)

    text = client.get("/grades/").content.decode()

    assert "Grading closed on" in text and "will be taken" not in text
    assert f"{due.freeze_grade_date:%-d %B %Y}" in text
