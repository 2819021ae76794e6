"""The heartbeat of a running chunk or listing: it tells one at work from one whose
worker died.

A thread beats every FREEZE_HEARTBEAT_SECONDS whatever the task is doing (an LMS call
may take long), on a database connection of its own; it stops with the task, and dies
with the process. A task that runs for less than one interval never beats here: its
delivery was its first heartbeat. Tasks run in-process need none: nobody else can be
running them.
"""

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection

log = logging.getLogger(__name__)


@contextlib.contextmanager
def beating(beat: Callable[[], object]) -> Iterator[None]:
    """Call `beat()` every FREEZE_HEARTBEAT_SECONDS in a thread while the block runs."""
    if current_app.conf.task_always_eager:
        yield
        return
    stop = threading.Event()

    def run() -> None:
        try:
            while not stop.wait(settings.FREEZE_HEARTBEAT_SECONDS):
                try:
                    beat()
                except DatabaseError as error:  # the database restarting: beat again later
                    log.warning("a heartbeat was missed: %s", error)
                    connection.close()
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=settings.FREEZE_HEARTBEAT_SECONDS)
