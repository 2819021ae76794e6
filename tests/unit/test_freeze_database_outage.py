"""A database that goes away mid-chunk is not the learner's failure."""

import pytest
from django.db import OperationalError

from grades import api
from grades.models import CourseRunGradingStatus, FreezeFailure
from tests.factories import CourseRunFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_lost_database_connection_fails_the_chunk_and_records_no_learner_failure(
    monkeypatch,
):
    course_run = CourseRunFactory()
    grading_status = CourseRunGradingStatus.objects.create(course_run=course_run, dispatch=1)
    user = UserFactory()

    def database_gone(user, course_runs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(api, "refresh_cached_data", database_gone)
    with pytest.raises(OperationalError):
        api.freeze_users(grading_status, [user.id])
    assert not FreezeFailure.objects.exists()
