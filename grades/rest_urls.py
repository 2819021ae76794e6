"""The REST API's routes, mounted under /api/."""

from django.urls import re_path
from rest_framework.routers import DefaultRouter

from grades import rest

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("course-runs", rest.CourseRunViewSet, basename="course-run")
router.register("reverts", rest.RevertViewSet, basename="revert")

urlpatterns = router.urls
# Last, so that a path no route matches answers JSON too.
not_found = [re_path(r"^(?P<path>.*)$", rest.not_found)]
