import pytest


@pytest.fixture
def in_process_tasks():
    """Run Celery tasks in the calling process, as the embedded default does."""
    from gradefreeze.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
