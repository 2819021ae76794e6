"""Check the wiring to the LMS: both OAuth clients, each problem named."""

import sys
from typing import Any

from django.conf import settings

from dashboard.connection_check import Problem, check_connection
from gradefreeze.commands import OperatorCommand


class Command(OperatorCommand):
    help = (
        "Try both OAuth clients against the LMS at EDXORG_BASE_URL and say exactly what is "
        "wrong: the sign-in client (EDXORG_CLIENT_ID/SECRET, authorization code: does the LMS "
        "know it and its secret?) and the staff client (EDXORG_STAFF_CLIENT_ID/SECRET, client "
        "credentials: does it get a token, and read a staff-only endpoint?). Exit status 0 "
        "when all is well; otherwise the first problem's: "
        + ", ".join(f"{problem.value} {problem.name.lower()}" for problem in Problem)
        + "."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"LMS: {settings.EDXORG_BASE_URL}")
        findings = check_connection()
        for finding in findings:
            stream = self.stderr if finding.problem else self.stdout
            stream.write(("problem: " if finding.problem else "") + finding.text)
        problems = [finding.problem for finding in findings if finding.problem]
        if problems:
            sys.exit(int(problems[0]))
        self.stdout.write("The LMS is wired right.")
