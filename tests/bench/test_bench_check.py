"""The benchmark's check of a freeze: every learner frozen once, audited once, exactly."""

import pytest

from bench.expected import copy_expected, create_expected_table
from bench.modes import check_freeze
from bench.seeding import RUN_KEY, bench_learners
from grades.models import FinalGrade
from tests.factories import (
    CachedCurrentGradeFactory,
    CachedEnrollmentFactory,
    CourseRunFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # COPY: PostgreSQL


@pytest.fixture
def dataset():
    return {"learners": dict(bench_learners(learners=3, sample=0))}


@pytest.fixture
def course_run():
    return CourseRunFactory(edx_course_key=RUN_KEY)


@pytest.fixture
def learners(dataset, course_run):
    """The dataset's learners, in the run's population on the platform."""
    users = []
    for username in dataset["learners"]:
        user = UserFactory(username=username)
        CachedEnrollmentFactory(user=user, course_run=course_run)
        CachedCurrentGradeFactory(user=user, course_run=course_run)
        users.append(user)
    create_expected_table()
    copy_expected([course_run], [(user.id, dataset["learners"][user.username]) for user in users])
    return users


def _freeze_as_the_dataset_says(dataset, course_run, users):
    for user in users:
        learner = dataset["learners"][user.username]
        certificates = learner["certificates"]
        FinalGrade.objects.create(
            user=user,
            course_run=course_run,
            grade=learner["grades"][0]["percent"],
            passed=bool(certificates) and certificates[0]["status"] == "downloadable",
            paid=learner["enrollments"][0]["mode"] in ("verified", "honor"),
        )


def test_a_freeze_matching_the_dataset_passes(dataset, course_run, learners):
    _freeze_as_the_dataset_says(dataset, course_run, learners)

    check = check_freeze(course_run)

    assert check["ok"]
    assert check["frozen"] == check["audited_once"] == 3


def test_a_learner_left_unfrozen_fails_the_check(dataset, course_run, learners):
    _freeze_as_the_dataset_says(dataset, course_run, learners[:2])

    check = check_freeze(course_run)

    assert not check["ok"]
    assert check["missing"] == 1


def test_a_final_grade_other_than_the_dataset_says_fails_the_check(dataset, course_run, learners):
    _freeze_as_the_dataset_says(dataset, course_run, learners)
    FinalGrade.objects.filter(user=learners[0]).update(grade=0.0, passed=True)

    check = check_freeze(course_run)

    assert not check["ok"]
    assert check["wrong_values"] == 1
