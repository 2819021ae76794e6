"""Course-wide enrollment reads and edX's username rule: a name the listing refuses in a
batch is read alone, and a batch answered 400 is split (dashboard.course_reader)."""

import json

import pytest
from django.utils import timezone

from dashboard.course_reader import batchable
from demo.api import seed_course_run, seed_learners
from grades import api, tasks
from grades.models import FinalGrade
from sandbox.dataset import DEFAULT_STAFF_CLIENT, generate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_tasks")]

KEY = "course-v1:MITx+Names+1T2026"
ODD = "jean.dupont"  # a dot: not a slug, so refused by the listing unless unicode is on


def renamed(dataset, old, new):
    """The dataset with learner `old` called `new` (records, tokens and all)."""
    text = json.dumps(dataset["learners"].pop(old)).replace(old, new)
    dataset["learners"][new] = json.loads(text)
    return dataset


@pytest.fixture
def course_run(settings):
    settings.FREEZE_MODE = "course_wide"
    settings.EDXORG_STAFF_CLIENT_ID = DEFAULT_STAFF_CLIENT["client_id"]
    settings.EDXORG_STAFF_CLIENT_SECRET = DEFAULT_STAFF_CLIENT["client_secret"]
    settings.FREEZE_PAGE_SIZE = 50
    return seed_course_run(KEY, timezone.now() - timezone.timedelta(hours=1))


@pytest.fixture
def dataset():
    data = renamed(generate(learners=30, course_keys=(KEY,), revoked=0), "learner00007", ODD)
    seed_learners(data)
    return data


def test_the_username_rule_is_edxs(settings):
    """user_authn/views/registration_form.py validate_username: a slug, or with
    ENABLE_UNICODE_USERNAME the characters of USERNAME_REGEX_PARTIAL."""
    settings.EDX_UNICODE_USERNAMES = False
    assert batchable("learner-01_x") and not batchable(ODD) and not batchable("zoë")
    settings.EDX_UNICODE_USERNAMES = True
    assert batchable(ODD) and batchable("zoë") and batchable("a b@c+d")
    assert not batchable("a,b") and not batchable("a/b")


def test_a_name_the_listing_refuses_is_read_alone_and_the_batch_is_not_failed(
    course_run, dataset, start_sandbox
):
    """enrollments/forms.py CourseEnrollmentsApiListForm.clean_username: one invalid name
    makes the listing a 400; the name goes to EnrollmentView instead."""
    sandbox = start_sandbox(dataset)
    tasks.freeze_course_run.delay(course_run.pk)
    status = api.freeze_status(course_run)
    assert (status.state, status.frozen, status.failed) == ("complete", 30, 0)
    assert FinalGrade.objects.filter(user__username=ODD).count() == 1
    assert sandbox.stats()["endpoints"]["enrollments"].get("400", 0) == 0


def test_a_batch_answered_400_is_split_down_to_the_name_it_refuses(
    course_run, dataset, start_sandbox, settings
):
    """Our rule says unicode names pass (EDX_UNICODE_USERNAMES) but the LMS's does not:
    the batch of 30 is refused, halved until the odd name is alone, and it is read by
    itself; nobody fails."""
    settings.EDX_UNICODE_USERNAMES = True
    sandbox = start_sandbox(dataset)
    tasks.freeze_course_run.delay(course_run.pk)
    status = api.freeze_status(course_run)
    assert (status.state, status.frozen, status.failed) == ("complete", 30, 0)
    refused = sandbox.stats()["endpoints"]["enrollments"]["400"]
    assert 2 <= refused <= 6  # 30, 15, 8, 4, 2, 1: one refusal per halving
