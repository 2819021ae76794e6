"""A throttled LMS: what it refuses for its rate is sent again, through the limiter, and
no learner fails for it (dashboard.rate_limits.call on every transport)."""

import pytest
import requests
from django.utils import timezone
from social_django.models import UserSocialAuth

from dashboard import rate_limits
from dashboard.learner_reader import read_learners
from dashboard.token_refresh import edx_links, refresh_tokens
from demo.api import seed_course_run, seed_learners
from gradefreeze.env import Rate
from sandbox.dataset import generate

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "course-v1:MITx+Throttled+1T2026"


@pytest.fixture
def dataset():
    seed_course_run(KEY, timezone.now())
    data = generate(learners=8, course_keys=(KEY,), revoked=0)
    seed_learners(data)
    return data


def limits(settings, **rates):
    settings.EDX_RATE_LIMITS = {**settings.EDX_RATE_LIMITS, **rates}


def test_a_refresh_refused_for_the_token_endpoints_rate_is_sent_again_and_spends_nothing(
    dataset, start_sandbox, settings
):
    """oauth_dispatch/views.py AccessTokenView (RatelimitMixin, block=True): over the
    limit, a 403 HTML page before the grant runs. With our limiter off, the sandbox
    refuses most of the 8 grants; each is sent again and every learner ends with the
    pair the LMS holds."""
    limits(settings, token=None)
    settings.EDX_RETRY_BACKOFF = 0.2
    sandbox = start_sandbox(dataset, options=("--token-rate", "3/2s"))
    links = edx_links(link.user for link in UserSocialAuth.objects.all())
    fresh, errors, _ = refresh_tokens(links)
    assert errors == {}
    stats = sandbox.stats()
    assert stats["throttled"].get("token", 0) > 0
    for link in fresh.values():
        held = requests.get(f"{sandbox.base_url}/_sandbox/learners/{link.uid}", timeout=5)
        assert link.extra_data["refresh_token"] == held.json()["refresh_token"]


def test_our_limiter_keeps_the_token_endpoint_under_its_limit(dataset, start_sandbox, settings):
    """The same LMS, our limiter set to its rate: nothing is refused."""
    limits(settings, token=Rate(3, 2))
    sandbox = start_sandbox(dataset, options=("--token-rate", "3/2s"))
    _, errors, _ = refresh_tokens(edx_links(link.user for link in UserSocialAuth.objects.all()))
    assert errors == {}
    assert sandbox.stats()["throttled"].get("token", 0) == 0


def test_a_learner_whose_reads_stay_throttled_fails_with_a_reason(dataset, start_sandbox, settings):
    """enrollments/views.py EnrollmentUserThrottle ('user': 40/minute a learner): a
    learner over it past EDX_THROTTLE_PATIENCE fails as throttled, not as an error."""
    limits(settings, learner_enrollments=None)
    settings.EDX_THROTTLE_PATIENCE = 1
    start_sandbox(dataset, options=("--rate", "enrollments_user=1/minute"))
    user = UserSocialAuth.objects.first().user
    assert read_learners([user]).errors == {}
    again = read_learners([user]).errors[user.pk]
    assert (again.stage, again.reason, again.http_status) == ("cache_refresh", "throttled", 429)


def test_a_429_with_retry_after_is_waited_out(dataset, start_sandbox, settings):
    """enrollments/views.py EnrollmentListView: a learner's reads of their enrollments
    over one in 2 s; DRF's Throttled answer says when (Retry-After)."""
    limits(settings, learner_enrollments=None)
    sandbox = start_sandbox(dataset, options=("--rate", "enrollments_user=1/2s"))
    user = UserSocialAuth.objects.first().user
    for _ in range(3):
        assert read_learners([user]).errors == {}
    assert sandbox.stats()["throttled"]["enrollments"] >= 2


def test_the_throttle_policy():
    """What counts as a refusal for the rate: any 429; a 403 of the token endpoint that is
    not JSON (django-ratelimit's page; an OAuth error is JSON)."""
    wait = rate_limits.throttle_wait
    assert wait(rate_limits.GRADES, 429, {}) == 0.0
    assert wait(rate_limits.GRADES, 429, {"Retry-After": "7"}) == 7.0
    assert wait(rate_limits.TOKEN, 403, {"Content-Type": "text/html; charset=utf-8"}) == 0.0
    assert wait(rate_limits.TOKEN, 403, {"Content-Type": "application/json"}) is None
    assert wait(rate_limits.GRADES, 403, {"Content-Type": "text/html"}) is None
    assert wait(rate_limits.GRADES, 404, {}) is None
    assert rate_limits.endpoint_of("http://lms/oauth2/access_token") == rate_limits.TOKEN
    assert rate_limits.endpoint_of("api/enrollment/v1/enrollment") == "learner_enrollments"
    assert rate_limits.endpoint_of("api/enrollment/v1/enrollments?x=1") == "enrollments"
    assert rate_limits.endpoint_of("/api/enrollment/v1/enrollment/a,b") == "enrollments"
    assert rate_limits.endpoint_of("/api/grades/v1/courses/x/") == rate_limits.GRADES
    assert rate_limits.endpoint_of("/api/certificates/v0/x") == rate_limits.CERTIFICATES


@pytest.mark.usefixtures("in_process_tasks")
def test_a_429_without_retry_after_on_the_staff_listing_is_waited_out(start_sandbox, settings):
    """enrollments/views.py CourseEnrollmentsApiListView (EnrollmentUserThrottle, staff
    scope) answers 429 through DeveloperErrorViewMixin (openedx/core/lib/api/view_utils.py),
    which drops Retry-After: backed off and sent again, no learner fails."""
    from grades import api, tasks
    from sandbox.dataset import DEFAULT_STAFF_CLIENT

    settings.FREEZE_MODE = "course_wide"
    settings.EDXORG_STAFF_CLIENT_ID = DEFAULT_STAFF_CLIENT["client_id"]
    settings.EDXORG_STAFF_CLIENT_SECRET = DEFAULT_STAFF_CLIENT["client_secret"]
    settings.FREEZE_PAGE_SIZE = 5
    settings.EDX_RETRY_BACKOFF = 0.2
    limits(settings, enrollments=None)
    run = seed_course_run(KEY, timezone.now() - timezone.timedelta(hours=1))
    data = generate(learners=20, course_keys=(KEY,), revoked=0)
    seed_learners(data)
    sandbox = start_sandbox(data, options=("--rate", "enrollments_staff=1/s"))
    tasks.freeze_course_run.delay(run.pk)
    status = api.freeze_status(run)
    assert (status.state, status.frozen, status.failed) == ("complete", 20, 0)
    assert sandbox.stats()["throttled"]["enrollments"] > 0
