"""Course-wide mode: the run read by pages with the staff client, frozen set-based."""

import copy

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from courses.models import CourseRun
from dashboard.api import ListedLearner, read_course_page
from dashboard.models import CachedEnrollment
from demo.api import seed_course_run, seed_learners
from grades import api, selectors, tasks
from grades.api import FreezeState
from grades.models import (
    Chunk,
    CourseRunGradingStatus,
    FinalGrade,
    FinalGradeAudit,
    FreezeFailure,
)
from sandbox.dataset import DEFAULT_STAFF_CLIENT, generate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_tasks")]

KEY = "course-v1:MITx+Wide+1T2026"


@pytest.fixture
def course_wide(settings):
    settings.FREEZE_MODE = "course_wide"
    settings.EDXORG_STAFF_CLIENT_ID = DEFAULT_STAFF_CLIENT["client_id"]
    settings.EDXORG_STAFF_CLIENT_SECRET = DEFAULT_STAFF_CLIENT["client_secret"]
    settings.FREEZE_PAGE_SIZE = 7
    settings.EDX_RETRY_BACKOFF = 0
    return settings


@pytest.fixture
def course_run(course_wide):
    return seed_course_run(KEY, timezone.now() - timezone.timedelta(hours=1))


def dataset_of(learners, **options):
    return generate(learners=learners, course_keys=(KEY,), **options)


def freeze(course_run):
    tasks.freeze_course_run.delay(course_run.pk)
    return api.freeze_status(course_run)


def expected_grade(learner):
    """The certificate policy, read off the sandbox's records."""
    grade = learner["grades"][0]
    mode = learner["enrollments"][0]["mode"]
    certificate = next(iter(learner["certificates"]), None)
    if certificate is None:
        return grade["percent"], False, mode in ("verified", "honor")
    return (
        grade["percent"],
        certificate["status"] == "downloadable",
        certificate["certificate_type"] in ("verified", "honor"),
    )


def frozen_values():
    return {
        row.user.username: (row.grade, row.passed, row.paid)
        for row in FinalGrade.objects.select_related("user")
    }


def test_every_active_learner_is_frozen_with_the_policy_values(course_run, start_sandbox):
    dataset = dataset_of(30, revoked=4)
    seed_learners(dataset)
    start_sandbox(dataset)
    status = freeze(course_run)
    assert (status.state, status.mode, status.frozen, status.failed) == (
        FreezeState.COMPLETE,
        CourseRun.COURSE_WIDE,
        30,
        0,
    )
    assert frozen_values() == {
        name: expected_grade(learner) for name, learner in dataset["learners"].items()
    }


def test_every_final_grade_is_audited_once_as_created_by_the_chunk(course_run, start_sandbox):
    dataset = dataset_of(12, revoked=0)
    seed_learners(dataset)
    start_sandbox(dataset)
    freeze(course_run)
    audits = FinalGradeAudit.objects.filter(action=FinalGradeAudit.CREATED)
    assert sorted(audits.values_list("final_grade_id", flat=True)) == sorted(
        FinalGrade.objects.values_list("id", flat=True)
    )
    assert set(audits.values_list("actor", flat=True)) == {f"task freeze_chunk {KEY}"}
    grade = FinalGrade.objects.first()
    audit = audits.get(final_grade_id=grade.pk)
    assert audit.after == {"grade": grade.grade, "passed": grade.passed, "paid": grade.paid}
    assert audit.before is None


def test_certificates_are_asked_only_for_learners_who_can_hold_one(course_run, start_sandbox):
    dataset = dataset_of(40, revoked=0, audit_share=0.5)
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    freeze(course_run)
    not_audit = [
        name
        for name, learner in dataset["learners"].items()
        if learner["enrollments"][0]["mode"] != "audit"
    ]
    assert 0 < len(not_audit) < 40
    assert sandbox.stats()["requests"]["certificates"] == len(not_audit)


def test_a_run_with_an_exam_asks_no_certificate(course_run, start_sandbox):
    course_run.course.has_exam = True
    course_run.course.save()
    dataset = dataset_of(10, revoked=0)
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    assert freeze(course_run).frozen == 10
    assert "certificates" not in sandbox.stats()["requests"]
    passed = {name: learner["grades"][0]["passed"] for name, learner in dataset["learners"].items()}
    assert {name: values[1] for name, values in frozen_values().items()} == passed


def test_learners_unknown_to_the_platform_or_not_active_are_not_frozen(course_run, start_sandbox):
    """lms/djangoapps/grades/rest_api/v1/views.py CourseGradesView lists active enrollees
    only: learner00003, active in the platform's cache but no longer on edX, is read alone
    (?username= answers for any enrollment) and leaves the population."""
    dataset = dataset_of(10, revoked=0)
    platform = copy.deepcopy(dataset)
    for name in ("learner00001", "learner00002"):
        del platform["learners"][name]
    seed_learners(platform)
    dataset["learners"]["learner00003"]["enrollments"][0]["is_active"] = False
    start_sandbox(dataset)
    status = freeze(course_run)
    assert (status.state, status.frozen) == (FreezeState.COMPLETE, 7)
    assert "learner00003" not in frozen_values()
    inactive = CachedEnrollment.objects.get(user__username="learner00003")
    assert inactive.data["is_active"] is False


def test_a_learner_the_listing_left_out_is_read_alone_and_frozen(course_run, start_sandbox):
    """views.py CourseGradesView._get_user_grades leaves out a learner whose grade read
    raised (a read_error, once): active on edX, they are read alone and frozen."""
    dataset = dataset_of(12, revoked=0)
    dataset["learners"]["learner00005"]["faults"] = {"grades": {"read_error": True, "times": 1}}
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    status = freeze(course_run)
    assert (status.state, status.frozen, status.failed) == (FreezeState.COMPLETE, 12, 0)
    assert "learner00005" in frozen_values()
    assert sandbox.stats()["faults"]["grades"] == 1


def test_a_learner_whose_grade_cannot_be_read_fails_with_a_reason(
    course_run, start_sandbox, course_wide
):
    """A grade read that always raises: left out of the listing, and a 500 when read
    alone (utils.py _get_single_user_grade): the learner fails, and the run completes
    with frozen + failed = needed."""
    course_wide.EDX_RETRIES = 1
    dataset = dataset_of(8, revoked=0)
    dataset["learners"]["learner00002"]["faults"] = {"grades": {"read_error": True}}
    seed_learners(dataset)
    start_sandbox(dataset)
    status = freeze(course_run)
    assert (status.state, status.frozen, status.failed) == (FreezeState.COMPLETE, 7, 1)
    assert status.failures_by_reason == {("cache_refresh", "http_error", 500): 1}


def test_a_certificate_answering_5xx_is_retried_then_recorded(
    course_run, start_sandbox, course_wide
):
    course_wide.EDX_RETRIES = 2
    dataset = dataset_of(6, revoked=0, audit_share=0, no_certificate_share=0)
    dataset["learners"]["learner00001"]["faults"] = {"certificates": {"status": 503}}
    dataset["learners"]["learner00002"]["faults"] = {"certificates": {"status": 502, "times": 2}}
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    status = freeze(course_run)
    assert (status.frozen, status.failed) == (5, 1)
    assert status.failures_by_reason == {("cache_refresh", "http_error", 503): 1}
    assert "learner00002" in frozen_values()
    # 3 tries for each of the two faulty learners, 1 for each of the other four.
    assert sandbox.stats()["requests"]["certificates"] == 3 + 3 + 4


def test_a_429_without_retry_after_and_a_timeout_are_retried(
    course_run, start_sandbox, course_wide
):
    course_wide.EDX_RETRIES = 2
    course_wide.EDX_REQUEST_TIMEOUT = 0.5
    dataset = dataset_of(4, revoked=0, audit_share=0, no_certificate_share=0)
    dataset["learners"]["learner00001"]["faults"] = {"certificates": {"status": 429, "times": 2}}
    dataset["learners"]["learner00002"]["faults"] = {
        "certificates": {"timeout": True, "timeout_s": 3, "times": 1}
    }
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    status = freeze(course_run)
    assert (status.frozen, status.failed) == (4, 0)
    # 3 tries for the throttled learner (sent again through the rate limiter after a
    # backoff), 2 for the one timed out, 1 for each of the others.
    assert sandbox.stats()["requests"]["certificates"] == 3 + 2 + 2


def test_a_429_past_the_throttle_patience_fails_the_learners_of_the_batch_as_throttled(
    course_run, start_sandbox, course_wide
):
    course_wide.EDX_THROTTLE_PATIENCE = 1.2
    dataset = dataset_of(3, revoked=0)
    dataset["faults"] = {"enrollments": {"status": 429}}
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    status = freeze(course_run)
    assert (status.frozen, status.failed) == (0, 3)
    assert status.failures_by_reason == {("cache_refresh", "throttled", 429): 3}
    # the page's 3 learners make one part, one batch of usernames, tried at once then
    # after 0.5 s (the next wait, 1 s, would pass the patience)
    assert sandbox.stats()["requests"]["enrollments"] == 2


def test_a_401_is_not_retried(course_run, start_sandbox):
    dataset = dataset_of(3, revoked=0, audit_share=0, no_certificate_share=0)
    dataset["learners"]["learner00001"]["faults"] = {"certificates": {"status": 401}}
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    status = freeze(course_run)
    assert status.failures_by_reason == {("cache_refresh", "http_error", 401): 1}
    assert sandbox.stats()["requests"]["certificates"] == 3


def test_a_malformed_certificate_fails_that_learner_only(course_run, start_sandbox):
    dataset = dataset_of(5, revoked=0, audit_share=0, no_certificate_share=0)
    dataset["learners"]["learner00004"]["faults"] = {"certificates": {"malformed": True}}
    seed_learners(dataset)
    start_sandbox(dataset)
    status = freeze(course_run)
    assert (status.frozen, status.failed) == (4, 1)
    failure = FreezeFailure.objects.get()
    assert (failure.user.username, failure.reason) == ("learner00004", "malformed_response")


def test_a_listing_that_fails_leaves_the_run_stalled_and_nothing_written(
    course_run, start_sandbox, course_wide
):
    course_wide.EDX_RETRIES = 0
    dataset = dataset_of(5, revoked=0)
    dataset["faults"] = {"grades": {"status": 500}}
    seed_learners(dataset)
    start_sandbox(dataset)
    status = freeze(course_run)
    assert (status.state, status.frozen, status.failed) == (FreezeState.STALLED, 0, 0)


def test_a_course_wide_round_cut_short_is_listed_again_and_completes(course_run, start_sandbox):
    dataset = dataset_of(9, revoked=0)
    seed_learners(dataset)
    start_sandbox(dataset)
    CourseRunGradingStatus.objects.create(
        course_run=course_run,
        round=1,
        mode=CourseRun.COURSE_WIDE,
        listed=False,
        chunks_total=1,
        chunks_done=1,
        round_started_on=timezone.now() - timezone.timedelta(hours=1),
    )
    assert api.freeze_status(course_run).state == FreezeState.STALLED
    status = freeze(course_run)
    assert (status.state, status.frozen) == (FreezeState.COMPLETE, 9)
    assert CourseRunGradingStatus.objects.get().round == 2


def test_a_second_freeze_of_a_complete_run_asks_edx_nothing(course_run, start_sandbox):
    dataset = dataset_of(4, revoked=0)
    seed_learners(dataset)
    sandbox = start_sandbox(dataset)
    freeze(course_run)
    before = sandbox.stats()["requests"]
    assert tasks.freeze_course_run.delay(course_run.pk).get() == "complete"
    assert sandbox.stats()["requests"] == before


@pytest.mark.parametrize(
    ("run_mode", "setting", "staff_client", "expected"),
    [
        (CourseRun.PER_LEARNER, "course_wide", True, CourseRun.PER_LEARNER),
        (CourseRun.COURSE_WIDE, "per_learner", False, CourseRun.COURSE_WIDE),
        (CourseRun.AUTO, "per_learner", True, CourseRun.PER_LEARNER),
        (CourseRun.AUTO, "auto", True, CourseRun.COURSE_WIDE),
        (CourseRun.AUTO, "auto", False, CourseRun.PER_LEARNER),
    ],
)
def test_the_mode_is_the_runs_then_the_settings_then_whether_a_staff_client_exists(
    course_run, course_wide, run_mode, setting, staff_client, expected
):
    course_run.freeze_mode = run_mode
    course_wide.FREEZE_MODE = setting
    course_wide.EDXORG_STAFF_CLIENT_ID = DEFAULT_STAFF_CLIENT["client_id"] if staff_client else ""
    assert selectors.freeze_mode_of(course_run) == expected


def test_per_learner_mode_still_needs_each_learners_token(course_run, start_sandbox, course_wide):
    course_wide.FREEZE_MODE = "per_learner"
    dataset = dataset_of(8, revoked=2)
    seed_learners(dataset)
    start_sandbox(dataset)
    status = freeze(course_run)
    assert (status.mode, status.frozen, status.failed) == (CourseRun.PER_LEARNER, 6, 2)
    assert get_user_model().objects.count() == 8


@pytest.mark.parametrize("text", ["a\x00b", "a\udfe0b"], ids=["NUL", "lone surrogate"])
def test_text_the_database_cannot_store_fails_that_learner_only(course_run, start_sandbox, text):
    dataset = dataset_of(4, revoked=0)
    seed_learners(dataset)
    dataset["learners"]["learner00002"]["grades"][0]["letter_grade"] = text  # the LMS's answer now
    start_sandbox(dataset)
    status = freeze(course_run)
    assert (status.frozen, status.failed) == (3, 1)
    failure = FreezeFailure.objects.get()
    assert (failure.user.username, failure.reason) == ("learner00002", "malformed_response")


def test_a_page_given_up_fails_the_learners_of_its_records_who_are_in_the_population(
    course_run, start_sandbox, settings
):
    """Its worker died at each delivery: its learners are known from the page's records,
    matched by their edX link; who is not the platform's, not actively enrolled, or
    already frozen is left alone."""
    dataset = dataset_of(6, revoked=0)
    platform = copy.deepcopy(dataset)
    del platform["learners"]["learner00001"]
    platform["learners"]["learner00002"]["enrollments"][0]["is_active"] = False
    seed_learners(platform)
    sandbox = start_sandbox(dataset)
    records = [learner["grades"][0] for learner in dataset["learners"].values()]
    grading_status = CourseRunGradingStatus.objects.create(
        course_run=course_run, round=1, mode=CourseRun.COURSE_WIDE, listed=False, chunks_total=1
    )
    Chunk.objects.create(
        grading_status=grading_status, round=1, index=0, deliveries=settings.FREEZE_MAX_DELIVERIES
    )
    frozen = get_user_model().objects.get(username="learner00003")
    FinalGrade.objects.create(user=frozen, course_run=course_run, grade=1, passed=True, paid=True)
    outcome = tasks.freeze_course_page.delay(grading_status.pk, 1, 0, records).get()
    assert outcome == {"frozen": 0, "failed": 3}
    failed = FreezeFailure.objects.values_list("user__username", "stage", "reason")
    lost = ("learner00004", "learner00005", "learner00006")
    assert set(failed) == {(name, "unexpected", "worker_lost") for name in lost}
    assert sandbox.stats()["requests"] == {}, "a page given up reads nothing"


def test_a_page_read_of_a_run_loaded_without_its_course_queries_nothing_on_the_event_loop(
    course_run, start_sandbox
):
    """The read runs on lms_async's event loop, where Django refuses any query: what it
    uses of the run (its course's has_exam) is loaded by the caller first."""
    dataset = dataset_of(5, revoked=0)
    seed_learners(dataset)
    start_sandbox(dataset)
    fresh = CourseRun.objects.get(pk=course_run.pk)  # its course not loaded yet
    learners = {
        name: ListedLearner(user_id, learner["grades"][0])
        for name, learner in dataset["learners"].items()
        for user_id in get_user_model()
        .objects.filter(social_auth__uid=name)
        .values_list("id", flat=True)
    }
    read = read_course_page(fresh, learners)
    assert (len(read.reads), read.errors) == (5, {})
