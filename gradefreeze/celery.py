"""The Celery application: `celery -A gradefreeze worker|beat|inspect ...`."""

import os

from celery import Celery
from celery.signals import task_postrun, worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gradefreeze.settings")

app = Celery("gradefreeze")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def count_sql_statements(**kwargs):
    """For the benchmark: with GRADEFREEZE_SQL_COUNTER naming a Redis key, each worker
    process adds the number of SQL statements it sent to that key after every task."""
    key = os.environ.get("GRADEFREEZE_SQL_COUNTER")
    if not key:
        return
    from bench.sql_count import count_statements_into

    counter = count_statements_into(app.conf.broker_url, key)
    task_postrun.connect(lambda **kwargs: counter.flush(), weak=False)
    worker_process_shutdown.connect(lambda **kwargs: counter.flush(), weak=False)
