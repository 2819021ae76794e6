"""The audit of final grades: every create, change and delete, with its actor and values."""

import pytest

from grades.audit import acting_as
from grades.models import FinalGrade, FinalGradeAudit
from tests.factories import CourseRunFactory, FinalGradeFactory, UserFactory

pytestmark = pytest.mark.django_db


class TestAudit:
    def test_creation_is_audited_with_its_actor_and_values(self):
        with acting_as("test suite"):
            final_grade = FinalGradeFactory(grade=0.7, passed=False, paid=True)
        audit = FinalGradeAudit.objects.get()
        assert (audit.action, audit.actor, audit.final_grade_id) == (
            "created",
            "test suite",
            final_grade.pk,
        )
        assert audit.before is None
        assert audit.after == {"grade": 0.7, "passed": False, "paid": True}

    def test_change_is_audited_with_before_and_after(self):
        final_grade = FinalGradeFactory(grade=0.7, passed=False)
        final_grade.passed = True
        final_grade.save()
        audit = FinalGradeAudit.objects.get(action="changed")
        assert audit.before["passed"] is False
        assert audit.after["passed"] is True

    def test_saving_unchanged_values_writes_no_audit(self):
        final_grade = FinalGradeFactory()
        final_grade.save()
        assert FinalGradeAudit.objects.filter(action="changed").count() == 0

    def test_queryset_delete_from_a_shell_is_audited_per_row(self):
        course_run = CourseRunFactory()
        FinalGradeFactory.create_batch(3, course_run=course_run)
        FinalGrade.objects.filter(course_run__edx_course_key=course_run.edx_course_key).delete()
        deleted = FinalGradeAudit.objects.filter(action="deleted")
        assert deleted.count() == 3
        assert all(row.before is not None and row.after is None for row in deleted)
        assert all(row.actor for row in deleted)

    def test_queryset_update_is_audited_per_changed_row(self):
        course_run = CourseRunFactory()
        FinalGradeFactory.create_batch(2, course_run=course_run, passed=False)
        FinalGradeFactory(course_run=course_run, passed=True)
        with acting_as("support desk"):
            FinalGrade.objects.filter(course_run=course_run).update(passed=True)
        changed = FinalGradeAudit.objects.filter(action="changed")
        assert changed.count() == 2
        assert {(row.actor, row.before["passed"], row.after["passed"]) for row in changed} == {
            ("support desk", False, True)
        }

    def test_bulk_update_is_audited(self):
        final_grades = FinalGradeFactory.create_batch(2, grade=0.5)
        for final_grade in final_grades:
            final_grade.grade = 0.6
        FinalGrade.objects.bulk_update(final_grades, ["grade"])
        assert FinalGradeAudit.objects.filter(action="changed").count() == 2

    def test_bulk_create_is_audited(self):
        course_run = CourseRunFactory()
        users = UserFactory.create_batch(3)
        FinalGrade.objects.bulk_create(
            FinalGrade(user=user, course_run=course_run, grade=0.5, passed=True, paid=False)
            for user in users
        )
        created = FinalGradeAudit.objects.filter(action="created")
        assert sorted(created.values_list("user_id", flat=True)) == sorted(u.pk for u in users)

    def test_bulk_create_that_may_skip_rows_is_refused(self):
        with pytest.raises(NotImplementedError):
            FinalGrade.objects.bulk_create(
                [
                    FinalGrade(
                        user=UserFactory(),
                        course_run=CourseRunFactory(),
                        grade=0.5,
                        passed=True,
                        paid=False,
                    )
                ],
                ignore_conflicts=True,
            )
        assert not FinalGrade.objects.exists()

    def test_deleting_one_final_grade_is_audited_once(self):
        final_grade = FinalGradeFactory(grade=0.4, passed=False, paid=False)
        with acting_as("support desk"):
            final_grade.delete()
        audit = FinalGradeAudit.objects.get(action="deleted")
        assert (audit.actor, audit.before, audit.after) == (
            "support desk",
            {"grade": 0.4, "passed": False, "paid": False},
            None,
        )

    @pytest.mark.parametrize("rows", [3, 120])
    def test_a_queryset_delete_costs_the_same_statements_for_any_number_of_rows(
        self, rows, django_assert_max_num_queries
    ):
        """The revert is set-based: Django's own delete takes its one-statement path,
        which it can only do while FinalGrade has no delete signals. (The lock reads the
        ids, then each batch of DELETE_BATCH its rows: the same count up to 10,000.)"""
        course_run = CourseRunFactory()
        FinalGradeFactory.create_batch(rows, course_run=course_run)
        with django_assert_max_num_queries(11):
            deleted, by_model = FinalGrade.objects.filter(course_run=course_run).delete()
        assert (deleted, by_model) == (rows, {"grades.FinalGrade": rows})
