"""The learner site, mounted at the site's root."""

from django.urls import path

from learners import views

app_name = "learners"

urlpatterns = [
    path("", views.home, name="home"),
    path("grades/", views.final_grades, name="final_grades"),
    path("sign-out/", views.sign_out, name="sign_out"),
]
