"""Both ways of reading the LMS freeze the same: same final grades, failures and audit.

The generated LMS data keeps to what edX guarantees: an audit learner's certificate is
never downloadable and is of type audit. Certificate faults are put on learners in a
mode that can hold a certificate, in certificate-policy runs: the course-wide read asks
no certificate of an audit learner nor in an exam run (the policy does not use it),
where a per-learner read does, by design.
"""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from courses.models import CourseRun
from demo.api import seed_course_run, seed_learners
from grades import api, tasks
from grades.api import FreezeState
from grades.models import FinalGrade, FinalGradeAudit, FreezeFailure
from sandbox.background import BackgroundSandbox
from sandbox.dataset import DEFAULT_STAFF_CLIENT, generate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_tasks")]

KEY = "course-v1:MITx+Agree+1T2026"
MODES = ("audit", "honor", "verified", "professional")
STATUSES = ("downloadable", "notpassing", "unverified", "generating", "restricted")

learners = st.lists(
    st.fixed_dictionaries(
        {
            "mode": st.sampled_from(MODES),
            "is_active": st.booleans(),
            "percent": st.floats(0, 1),
            "passed": st.booleans(),
            "certificate": st.none() | st.tuples(st.sampled_from(STATUSES), st.sampled_from(MODES)),
            "certificate_fault": st.none() | st.sampled_from([500, 503, 401, 403, "malformed"]),
            "on_platform": st.booleans(),
        }
    ),
    min_size=1,
    max_size=8,
)


def lms_data(drawn, has_exam):
    """A sandbox data file holding the drawn learners, edX's own records throughout."""
    dataset = generate(learners=len(drawn), course_keys=(KEY,), revoked=0, no_certificate_share=0)
    for learner, draw in zip(dataset["learners"].values(), drawn, strict=True):
        enrollment, grade = learner["enrollments"][0], learner["grades"][0]
        enrollment.update(mode=draw["mode"], is_active=draw["is_active"])
        grade.update(percent=draw["percent"], passed=draw["passed"])
        if draw["certificate"] is None:
            learner["certificates"] = []
        else:
            status, certificate_type = draw["certificate"]
            if draw["mode"] == "audit":
                status = "audit_passing" if draw["passed"] else "audit_notpassing"
                certificate_type = "audit"
            learner["certificates"][0].update(status=status, certificate_type=certificate_type)
        # Per-learner reads only the population (active learners); course-wide asks no
        # certificate of an inactive learner either, so a fault there must change nothing.
        asked = not has_exam and draw["mode"] != "audit"
        fault = draw["certificate_fault"]
        if asked and fault is not None:
            spec = {"malformed": True} if fault == "malformed" else {"status": fault}
            learner["faults"] = {"certificates": spec}
    return dataset


def platform_data(dataset, drawn):
    kept = {
        name: learner
        for (name, learner), draw in zip(dataset["learners"].items(), drawn, strict=True)
        if draw["on_platform"]
    }
    return {**dataset, "learners": kept}


def outcome(course_run, audits_after):
    names = dict(get_user_model().objects.values_list("id", "username"))
    grades = {
        names[row.user_id]: (row.grade, row.passed, row.paid)
        for row in FinalGrade.objects.filter(course_run=course_run)
    }
    failures = {
        names[row.user_id]: (row.stage, row.reason, row.http_status)
        for row in FreezeFailure.objects.all()
    }
    audits = sorted(
        (names[row.user_id], row.action, row.actor, repr(row.before), repr(row.after))
        for row in FinalGradeAudit.objects.filter(pk__gt=audits_after)
    )
    return grades, failures, audits


def freeze_in(mode, course_run, django_settings):
    django_settings.FREEZE_MODE = mode
    audits_before = FinalGradeAudit.objects.order_by("-pk").values_list("pk", flat=True).first()
    tasks.freeze_course_run.delay(course_run.pk)
    status = api.freeze_status(course_run)
    assert status.state == FreezeState.COMPLETE
    assert status.mode == mode
    return outcome(course_run, audits_before or 0)


@pytest.fixture
def course_run(settings):
    settings.EDXORG_STAFF_CLIENT_ID = DEFAULT_STAFF_CLIENT["client_id"]
    settings.EDXORG_STAFF_CLIENT_SECRET = DEFAULT_STAFF_CLIENT["client_secret"]
    settings.EDX_RETRIES = 1
    settings.EDX_RETRY_BACKOFF = 0
    settings.FREEZE_PAGE_SIZE = 3
    settings.FREEZE_CHUNK_SIZE = 3
    return seed_course_run(KEY, timezone.now() - timezone.timedelta(hours=1))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=learners, has_exam=st.booleans())
@example(  # an inactive learner is in neither population: their certificate is not read
    drawn=[
        {
            "mode": "verified",
            "is_active": False,
            "percent": 0.5,
            "passed": True,
            "certificate": ("downloadable", "verified"),
            "certificate_fault": 500,
            "on_platform": True,
        }
    ],
    has_exam=False,
)
def test_course_wide_and_per_learner_freezes_agree(course_run, settings, drawn, has_exam):
    course_run.course.has_exam = has_exam
    course_run.course.save()
    api.revert_freeze(course_run)  # what the previous example left
    get_user_model().objects.all().delete()
    dataset = lms_data(drawn, has_exam)
    seed_learners(platform_data(dataset, drawn))
    with BackgroundSandbox(dataset) as lms:
        settings.EDXORG_BASE_URL = lms.url.rstrip("/") + "/"
        course_wide = freeze_in(CourseRun.COURSE_WIDE, course_run, settings)
        api.revert_freeze(course_run)
        per_learner = freeze_in(CourseRun.PER_LEARNER, course_run, settings)
    assert course_wide == per_learner
