"""Settings of the demo and the test suite: production's, plus the demo's seeding command.

Production runs `gradefreeze.settings`, which knows nothing of the demo.
"""

from gradefreeze.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "demo"]  # noqa: F405

# The demo and the tests serve static files from the apps, with no collectstatic first.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
