from django.contrib import admin

from dashboard.models import CachedCertificate, CachedCurrentGrade, CachedEnrollment


@admin.register(CachedEnrollment, CachedCertificate, CachedCurrentGrade)
class CachedEdxDataAdmin(admin.ModelAdmin):
    list_display = ["user", "course_run", "refreshed_on"]
    list_select_related = ["user", "course_run"]
    search_fields = ["user__username", "course_run__edx_course_key"]
    readonly_fields = ["user", "course_run", "data", "refreshed_on"]
