"""Reporting unexpected failures to Sentry: once per kind and chunk, grouped by template.

A bug that fails every learner of a chunk must make one event, not one per learner, and
its events of every chunk and run one issue: the fingerprint is the message template
(the log redaction formats messages before Sentry sees them, so Sentry's own grouping
by message would split them). Tags say which course run and at which stage.
"""

import logging

import sentry_sdk

log = logging.getLogger("gradefreeze.failures")


def report_unexpected(
    template: str, args: tuple, error: BaseException, tags: dict[str, str]
) -> None:
    """Log `template % args` at ERROR with `error`'s traceback (Sentry's logging
    integration sends it when SENTRY_DSN is set), fingerprinted by `template`."""
    with sentry_sdk.new_scope() as scope:
        for name, value in tags.items():
            scope.set_tag(name, value)
        scope.fingerprint = ["gradefreeze", template]
        log.error(template, *args, exc_info=(type(error), error, error.__traceback__))
