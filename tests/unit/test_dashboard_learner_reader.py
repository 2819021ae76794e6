"""Refreshing a learner's cached edX data over HTTP from the sandbox, with their own token."""

import time

import pytest
from django.utils import timezone
from social_django.models import UserSocialAuth

from dashboard.api import EdxRefreshError
from dashboard.api_edx_cache import CachedEdxDataApi
from dashboard.models import CachedCertificate, CachedCurrentGrade, CachedEnrollment
from demo.api import seed_course_run, seed_learners
from sandbox.certificates import served as edx_certificate
from sandbox.dataset import generate

pytestmark = pytest.mark.django_db

KEY = "course-v1:MITx+Cache+1T2026"
OTHER_KEY = "course-v1:MITx+Unknown+1T2026"


@pytest.fixture
def course_run():
    return seed_course_run(KEY, timezone.now())


@pytest.fixture
def learner_data(course_run):
    """One learner enrolled in KEY and in a run the platform does not know."""
    dataset = generate(learners=1, course_keys=(KEY, OTHER_KEY), revoked=0, no_certificate_share=0)
    seed_learners(dataset)
    return dataset


def user():
    return UserSocialAuth.objects.get(uid="learner00001").user


def edx_grade(record):
    """A grade as edX's API serializes it (GradeViewMixin._serialize_user_grade)."""
    fields = ("username", "email", "course_id", "passed", "percent", "letter_grade")
    return {field: record[field] for field in fields}


def cached(model):
    return list(model.objects.values_list("course_run__edx_course_key", "data"))


def test_refresh_uses_the_refresh_token_grant_and_saves_the_new_tokens(learner_data, start_sandbox):
    sandbox = start_sandbox(learner_data)
    before = dict(UserSocialAuth.objects.get().extra_data)
    CachedEdxDataApi.update_all_cached_grade_data(user())
    after = UserSocialAuth.objects.get().extra_data
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    assert after["auth_time"] >= int(time.time()) - 5
    assert after["expires_in"] == 36000
    assert sandbox.stats()["requests"]["token"] == 1


def test_a_fresh_token_is_used_without_refreshing(learner_data, start_sandbox):
    sandbox = start_sandbox(learner_data)
    link = UserSocialAuth.objects.get()
    link.extra_data["auth_time"] = int(time.time())
    link.save()
    CachedEdxDataApi.update_all_cached_grade_data(user())
    assert sandbox.stats()["requests"].get("token", 0) == 0


def test_enrollments_certificates_and_grades_of_known_runs_are_cached_as_edx_json(
    learner_data, start_sandbox
):
    start_sandbox(learner_data)
    CachedEnrollment.objects.all().delete()
    CachedCurrentGrade.objects.all().delete()
    CachedEdxDataApi.update_all_cached_grade_data(user())
    learner = learner_data["learners"]["learner00001"]
    by_key = {record["course_id"]: record for record in learner["certificates"]}
    assert cached(CachedCertificate) == [(KEY, edx_certificate(by_key[KEY]))]
    grade = next(g for g in learner["grades"] if g["course_id"] == KEY)
    assert cached(CachedCurrentGrade) == [(KEY, {**edx_grade(grade), "email": ""})]
    [(key, enrollment)] = cached(CachedEnrollment)
    assert (key, enrollment["course_details"]["course_id"]) == (KEY, KEY)


def test_a_certificate_gone_from_edx_is_removed_from_the_cache(learner_data, start_sandbox):
    learner = learner_data["learners"]["learner00001"]
    sandbox = start_sandbox(learner_data)
    CachedEdxDataApi.update_all_cached_grade_data(user())
    assert CachedCertificate.objects.count() == 1
    tokens = UserSocialAuth.objects.get().extra_data
    sandbox.put_learner(
        "learner00001",
        {
            **learner,
            "certificates": [],
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
        },
    )
    CachedEdxDataApi.update_all_cached_grade_data(user())
    assert CachedCertificate.objects.count() == 0


@pytest.mark.parametrize(
    ("fault", "reason", "http_status"),
    [
        ({"status": 500}, "http_error", 500),
        ({"status": 403}, "http_error", 403),
        ({"malformed": True}, "malformed_response", None),
    ],
)
def test_an_lms_fault_is_a_cache_refresh_error_and_writes_nothing(
    learner_data, start_sandbox, fault, reason, http_status
):
    learner_data["learners"]["learner00001"]["faults"] = {"grades": fault}
    start_sandbox(learner_data)
    before = cached(CachedCurrentGrade), cached(CachedCertificate), cached(CachedEnrollment)
    with pytest.raises(EdxRefreshError) as error:
        CachedEdxDataApi.update_all_cached_grade_data(user())
    assert (error.value.stage, error.value.reason, error.value.http_status) == (
        "cache_refresh",
        reason,
        http_status,
    )
    assert (
        cached(CachedCurrentGrade),
        cached(CachedCertificate),
        cached(CachedEnrollment),
    ) == before


def test_a_revoked_token_is_a_token_refresh_error(learner_data, start_sandbox):
    learner_data["learners"]["learner00001"]["revoked"] = True
    start_sandbox(learner_data)
    with pytest.raises(EdxRefreshError) as error:
        CachedEdxDataApi.update_all_cached_grade_data(user())
    assert (error.value.stage, error.value.http_status) == ("token_refresh", 400)


def test_a_learner_without_an_edx_link_is_a_token_refresh_error(learner_data):
    UserSocialAuth.objects.all().delete()
    with pytest.raises(EdxRefreshError) as error:
        CachedEdxDataApi.update_all_cached_grade_data(
            CachedEnrollment.objects.select_related("user").get().user
        )
    assert (error.value.stage, error.value.reason) == ("token_refresh", "no_edx_link")


def test_an_lms_that_does_not_answer_is_a_token_refresh_error(learner_data, settings):
    settings.EDXORG_BASE_URL = "http://127.0.0.1:9/"
    with pytest.raises(EdxRefreshError) as error:
        CachedEdxDataApi.update_all_cached_grade_data(user())
    assert error.value.stage == "token_refresh"
