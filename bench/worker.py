"""The benchmark's Celery worker: the platform's app, with the SQL statement counter.

`celery -A bench.worker worker` runs exactly what `celery -A gradefreeze worker` runs;
with GRADEFREEZE_SQL_COUNTER naming a Redis key, each worker process also adds the
number of SQL statements it sent to that key after every task.
"""

import os

from celery.signals import task_postrun, worker_process_init, worker_process_shutdown

from gradefreeze.celery import app

__all__ = ["app"]


@worker_process_init.connect
def sample_stacks(**kwargs) -> None:
    """With BENCH_SAMPLE_STACKS naming a directory, each worker process samples its
    threads' stacks and writes what it saw there when it shuts down."""
    directory = os.environ.get("BENCH_SAMPLE_STACKS")
    if not directory:
        return
    from pathlib import Path

    from bench.stack_sampler import StackSampler

    sampler = StackSampler(Path(directory) / f"stacks-{os.getpid()}.json")
    worker_process_shutdown.connect(lambda **kwargs: sampler.stop(), weak=False)


@worker_process_init.connect
def count_sql_statements(**kwargs) -> None:
    key = os.environ.get("GRADEFREEZE_SQL_COUNTER")
    if not key:
        return
    from bench.sql_count import count_statements_into

    counter = count_statements_into(app.conf.broker_url, key)
    task_postrun.connect(lambda **kwargs: counter.flush(), weak=False)
    worker_process_shutdown.connect(lambda **kwargs: counter.flush(), weak=False)
