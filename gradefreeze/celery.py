"""The Celery application: `celery -A gradefreeze worker|beat|inspect ...`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gradefreeze.settings")

app = Celery("gradefreeze")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
