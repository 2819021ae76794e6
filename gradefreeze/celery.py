"""The Celery application: `celery -A gradefreeze worker|beat|inspect ...`."""

import os

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gradefreeze.settings")

app = Celery("gradefreeze")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def refuse_bad_settings(**kwargs) -> None:
    """A worker or beat does not start on settings `manage.py check` would refuse."""
    from django.core import checks

    from gradefreeze.checks import TAG

    errors = [m for m in checks.run_checks(tags=[TAG]) if m.is_serious()]
    if errors:
        # SystemExit, not an Exception: Celery logs and ignores what a signal handler raises.
        raise SystemExit("\n".join(str(error) for error in errors))
