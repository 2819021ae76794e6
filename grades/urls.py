"""The operators' pages, mounted under /ops/."""

from django.urls import path

from grades import views

app_name = "grades"

urlpatterns = [
    path("", views.course_runs, name="course_runs"),
    path("progress.json", views.progress, name="progress"),
    path("runs/<int:pk>/", views.course_run, name="course_run"),
    path("runs/<int:pk>/status.json", views.course_run_status, name="course_run_status"),
    path("runs/<int:pk>/final-grades.csv", views.final_grades_csv, name="final_grades_csv"),
    path("runs/<int:pk>/learners/<str:username>/", views.learner, name="learner"),
    path("runs/<int:pk>/<slug:action>/", views.course_run_action, name="course_run_action"),
    path("reverts/<int:pk>/restore/", views.restore, name="restore"),
]
