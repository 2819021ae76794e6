"""URL routes: the learner site (/) with "Sign in with edX" (social-auth's /login/edxorg/
and /complete/edxorg/), the admin, the operators' pages (/ops/), the REST API (/api/) and
its schema.
"""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView

from grades import rest, rest_urls

urlpatterns = [
    path("", include("learners.urls")),
    path("", include("social_django.urls", namespace="social")),
    path("admin/", admin.site.urls),
    path("ops/", include("grades.urls")),
    path("api/schema/", SpectacularJSONAPIView.as_view(), name="schema"),
    path("api/docs/", rest.ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include(rest_urls.urlpatterns + rest_urls.not_found)),
]
