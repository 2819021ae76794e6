"""One final grade per learner and run, computed from the cache, every change audited."""

import pytest
from django.db import IntegrityError, transaction

from grades.api import get_final_grade, store_final_grade
from grades.models import FinalGrade
from grades.policy import FinalGradeError, FinalGradeValues
from tests.factories import (
    CachedCertificateFactory,
    CachedCurrentGradeFactory,
    CachedEnrollmentFactory,
    CourseRunFactory,
    FinalGradeFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_database_refuses_a_second_final_grade_for_a_learner_and_run():
    final_grade = FinalGradeFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        FinalGrade.objects.create(
            user=final_grade.user,
            course_run=final_grade.course_run,
            grade=0.1,
            passed=False,
            paid=False,
        )


def test_database_refuses_a_grade_outside_0_to_1():
    with pytest.raises(IntegrityError), transaction.atomic():
        FinalGradeFactory(grade=1.5)


def test_storing_twice_keeps_the_first_values():
    user, course_run = UserFactory(), CourseRunFactory()
    first = store_final_grade(user, course_run, FinalGradeValues(0.9, True, True))
    second = store_final_grade(user, course_run, FinalGradeValues(0.1, False, False))
    assert second.pk == first.pk
    assert (second.grade, second.passed) == (0.9, True)
    assert FinalGrade.objects.count() == 1


def test_final_grade_is_computed_from_the_cached_edx_data():
    course_run = CourseRunFactory()
    user = UserFactory()
    CachedEnrollmentFactory(user=user, course_run=course_run)
    CachedCurrentGradeFactory(
        user=user, course_run=course_run, data={"percent": 0.42, "passed": False}
    )
    CachedCertificateFactory(user=user, course_run=course_run)
    assert get_final_grade(user, course_run) == FinalGradeValues(0.42, True, True)


def test_no_cached_current_grade_is_a_computation_failure():
    course_run = CourseRunFactory()
    user = UserFactory()
    CachedEnrollmentFactory(user=user, course_run=course_run)
    with pytest.raises(FinalGradeError) as error:
        get_final_grade(user, course_run)
    assert error.value.reason == "no_current_grade"
