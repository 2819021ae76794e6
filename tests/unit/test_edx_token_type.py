"""EDX_TOKEN_TYPE=jwt: tokens asked for with token_type=jwt and sent as `Authorization: JWT`
(openedx/core/djangoapps/oauth_dispatch/views.py AccessTokenView.dispatch issues the JWT;
edx-drf-extensions' JwtAuthentication takes it with the JWT prefix)."""

import pytest
from django.utils import timezone
from social_django.models import UserSocialAuth

from dashboard import lms_async, rate_limits
from dashboard.learner_reader import read_learners
from dashboard.lms_async import get_json
from dashboard.lms_client import staff_token
from demo.api import seed_course_run, seed_learners
from sandbox.dataset import DEFAULT_STAFF_CLIENT, generate

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "course-v1:MITx+Jwt+1T2026"


@pytest.fixture
def dataset():
    seed_course_run(KEY, timezone.now())
    data = generate(learners=3, course_keys=(KEY,), revoked=0)
    seed_learners(data)
    return data


@pytest.mark.parametrize("token_type", ["jwt", "bearer"])
def test_a_learner_is_refreshed_to_and_read_with_a_token_of_that_type(
    dataset, start_sandbox, settings, token_type
):
    settings.EDX_TOKEN_TYPE = token_type
    start_sandbox(dataset)
    users = [link.user for link in UserSocialAuth.objects.all()]
    read = read_learners(users, None)
    assert read.errors == {}
    assert len(read.reads) == 3
    for link in UserSocialAuth.objects.all():
        assert link.extra_data["token_type"].lower() == token_type
        assert (link.extra_data["access_token"].count(".") == 2) is (token_type == "jwt")


@pytest.mark.parametrize("token_type", ["jwt", "bearer"])
def test_the_staff_client_reads_with_a_token_of_that_type(
    dataset, start_sandbox, settings, token_type
):
    settings.EDX_TOKEN_TYPE = token_type
    settings.EDXORG_STAFF_CLIENT_ID = DEFAULT_STAFF_CLIENT["client_id"]
    settings.EDXORG_STAFF_CLIENT_SECRET = DEFAULT_STAFF_CLIENT["client_secret"]
    start_sandbox(dataset)
    staff_token.forget()
    page = lms_async.run(get_json(rate_limits.GRADES, f"api/grades/v1/courses/{KEY}/"))
    assert len(page["results"]) == 3
    assert (staff_token.get().count(".") == 2) is (token_type == "jwt")
    staff_token.forget()


def test_a_jwt_sent_as_bearer_is_refused(dataset, start_sandbox, settings):
    """The check that the scheme matters: the same JWT with the Bearer prefix is a 401."""
    import requests

    settings.EDX_TOKEN_TYPE = "jwt"
    settings.EDXORG_STAFF_CLIENT_ID = DEFAULT_STAFF_CLIENT["client_id"]
    settings.EDXORG_STAFF_CLIENT_SECRET = DEFAULT_STAFF_CLIENT["client_secret"]
    sandbox = start_sandbox(dataset)
    staff_token.forget()
    token = staff_token.get()
    staff_token.forget()
    url = f"{sandbox.base_url}/api/grades/v1/courses/{KEY}/"
    assert requests.get(url, headers={"Authorization": f"JWT {token}"}, timeout=5).ok
    assert (
        requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code
        == 401
    )
