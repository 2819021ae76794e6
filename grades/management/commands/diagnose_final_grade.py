from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from gradefreeze.commands import OperatorCommand
from grades.diagnosis import diagnose
from grades.management.commands._course_run import add_course_key_argument, course_run_from_options


class Command(OperatorCommand):
    help = (
        "Why a learner has (or has not) their final grade in a course run: their edX link "
        "and token state, the cached edX data and when it was read, which grading policy "
        "applies and what it gives, the frozen grade, failures and audit. Read-only; --live "
        "also asks edX now (refreshing the learner's token if it is due)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_course_key_argument(parser)
        parser.add_argument("username", help="the learner's username on the platform")
        parser.add_argument("--live", action="store_true", help="also read edX now")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"].strip()
        if not username or not username.isprintable() or len(username) > 150:
            raise CommandError(f"{username!r} is not a username.")
        course_run = course_run_from_options(options)
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user has the username {username!r}.")
        for section in diagnose(user, course_run, live=options["live"]):
            self.stdout.write(section.title)
            for line in section.lines:
                self.stdout.write(f"  {line}")
