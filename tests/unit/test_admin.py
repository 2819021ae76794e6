"""The admin: runs searchable with their UTC freeze date and status; final grades read only."""

import datetime

import pytest
from django.urls import reverse

from grades.models import CourseRunGradingStatus, FinalGrade, FreezeFailure
from tests.factories import CourseRunFactory, FinalGradeFactory

pytestmark = pytest.mark.django_db


def test_course_runs_are_searchable_by_key_with_utc_freeze_date_and_status(admin_client):
    wanted = CourseRunFactory(
        edx_course_key="course-v1:MITx+Analog+Learning+200+Jan_2015",
        freeze_grade_date=datetime.datetime(2026, 1, 31, 23, 0, tzinfo=datetime.UTC),
    )
    CourseRunFactory(edx_course_key="course-v1:MITx+Other+1T2026")
    CourseRunGradingStatus.objects.create(course_run=wanted)
    page = admin_client.get(reverse("admin:courses_courserun_changelist"), {"q": "Analog"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "course-v1:MITx+Analog+Learning+200+Jan_2015" in html
    assert "course-v1:MITx+Other+1T2026" not in html
    assert "Freeze grade date (UTC)" in html
    assert "2026-01-31 23:00 UTC" in html
    assert "Grading status" in html
    assert '<td class="field-freeze_state">pending</td>' in html


def test_a_run_never_frozen_shows_not_started(admin_client):
    CourseRunFactory()
    page = admin_client.get(reverse("admin:courses_courserun_changelist"))
    assert '<td class="field-freeze_state">not started</td>' in page.content.decode()


def test_final_grades_are_listed_per_run(admin_client):
    final_grade = FinalGradeFactory()
    page = admin_client.get(
        reverse("admin:grades_finalgrade_changelist"),
        {"course_run__id__exact": final_grade.course_run_id},
    )
    assert page.status_code == 200
    assert final_grade.user.username in page.content.decode()


def test_final_grades_cannot_be_changed_or_deleted_in_the_admin(admin_client):
    final_grade = FinalGradeFactory()
    delete = admin_client.post(
        reverse("admin:grades_finalgrade_delete", args=[final_grade.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    change = admin_client.post(
        reverse("admin:grades_finalgrade_change", args=[final_grade.pk]), {"grade": "0.1"}
    )
    assert change.status_code == 403
    admin_client.post(
        reverse("admin:grades_finalgrade_changelist"),
        {"action": "delete_selected", "_selected_action": [final_grade.pk], "post": "yes"},
    )
    assert FinalGrade.objects.filter(pk=final_grade.pk, grade=final_grade.grade).exists()


@pytest.mark.parametrize("model", ["finalgradeaudit", "freezefailure", "courserungradingstatus"])
def test_audit_failures_and_statuses_are_readable(admin_client, model):
    FinalGradeFactory()
    page = admin_client.get(reverse(f"admin:grades_{model}_changelist"))
    assert page.status_code == 200


def test_a_failed_learner_frozen_since_is_marked_in_the_failure_list(admin_client):
    final_grade = FinalGradeFactory()
    grading_status = CourseRunGradingStatus.objects.create(course_run=final_grade.course_run)
    FreezeFailure.objects.create(
        grading_status=grading_status, user=final_grade.user, stage="cache_refresh", reason="x"
    )
    page = admin_client.get(reverse("admin:grades_freezefailure_changelist"))
    assert 'field-frozen_since"><img src="/static/admin/img/icon-yes.svg"' in page.content.decode()
