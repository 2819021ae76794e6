"""Counting the SQL statements a Celery worker process sends, for the benchmark.

Every database connection the process opens gets an execute wrapper (Django's hook around
each cursor.execute/executemany); the count goes to a Redis key after every task, so the
benchmark can add up what all worker processes did. COPY and other calls made on the raw
psycopg cursor are not seen.
"""

import threading

import redis
from django.db import connections
from django.db.backends.signals import connection_created


class StatementCounter:
    """A Django execute wrapper that counts statements and adds them to a Redis key."""

    def __init__(self, redis_url: str, key: str) -> None:
        self._redis = redis.Redis.from_url(redis_url)
        self._key = key
        self._lock = threading.Lock()
        self._count = 0

    def __call__(self, execute, sql, params, many, context):
        # executemany sends the statement once per parameter set.
        statements = len(params) if many and hasattr(params, "__len__") else 1
        with self._lock:
            self._count += statements
        return execute(sql, params, many, context)

    def watch(self, connection) -> None:
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)

    def flush(self) -> None:
        with self._lock:
            counted, self._count = self._count, 0
        if counted:
            self._redis.incrby(self._key, counted)


def count_statements_into(redis_url: str, key: str) -> StatementCounter:
    """Count every statement of this process from now on (new connections included)."""
    counter = StatementCounter(redis_url, key)
    for connection in connections.all(initialized_only=True):
        counter.watch(connection)
    connection_created.connect(
        lambda sender, connection, **kwargs: counter.watch(connection), weak=False
    )
    return counter
