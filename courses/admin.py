from django.contrib import admin

from courses.models import Course, CourseRun, Program


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    search_fields = ["title"]


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["title", "program", "has_exam"]
    list_filter = ["program", "has_exam"]
    search_fields = ["title"]


@admin.register(CourseRun)
class CourseRunAdmin(admin.ModelAdmin):
    list_display = ["edx_course_key", "course", "freeze_date_utc", "freeze_mode", "freeze_state"]
    list_select_related = ["course", "grading_status"]
    search_fields = ["edx_course_key", "title", "course__title"]
    list_filter = ["grading_status__status", "freeze_mode"]

    @admin.display(description="Freeze grade date (UTC)", ordering="freeze_grade_date")
    def freeze_date_utc(self, course_run: CourseRun) -> str:
        if course_run.freeze_grade_date is None:
            return "-"
        return course_run.freeze_grade_date.strftime("%Y-%m-%d %H:%M UTC")

    @admin.display(description="Grading status", ordering="grading_status__status")
    def freeze_state(self, course_run: CourseRun) -> str:
        status = getattr(course_run, "grading_status", None)
        return status.status if status else "not started"
