import json
import secrets
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from courses.api import CourseRunError, check_course_key
from demo.api import seed_course_run, seed_learners
from gradefreeze.commands import OperatorCommand
from grades.api import revert_freeze
from sandbox.dataset import DEFAULT_PASSWORD, DatasetError, generate

DEFAULT_KEY = "course-v1:MITx+Analog+Learning+200+Jan_2015"
# More than the benchmark's 100,000 learners; a typo of a few more zeros would
# otherwise run for hours or exhaust memory.
MAX_LEARNERS = 1_000_000


class Command(OperatorCommand):
    help = (
        "Seed a demo: a program with a course run whose freeze date has passed, learners "
        "linked to edX (some with revoked tokens, some without a certificate), and the "
        "sandbox data file serving their edX data. Reverts an earlier freeze of that run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--learners", type=int, default=300, help="how many (default 300)")
        parser.add_argument("--revoked", type=int, default=12, help="learners with revoked tokens")
        parser.add_argument("--course-key", default=DEFAULT_KEY, help="the run's edX course key")
        parser.add_argument("--seed", type=int, default=1, help="random seed of the dataset")
        parser.add_argument(
            "--force",
            action="store_true",
            help="seed a database that is not the embedded SQLite one (never production)",
        )
        parser.add_argument(
            "--staff-username",
            default="ops",
            help="the staff account of the operations pages, given a new password each time",
        )
        parser.add_argument(
            "--out",
            default=str(settings.VAR_DIR / "sandbox-demo.json"),
            help="where to write the sandbox data file (default var/sandbox-demo.json)",
        )

    def handle(self, *args, **options):
        if connection.vendor != "sqlite" and not options["force"]:
            raise CommandError(
                "seed_demo rewrites learners, tokens and a course run: it runs on the embedded "
                "SQLite database only, unless given --force."
            )
        if not 1 <= options["learners"] <= MAX_LEARNERS:
            raise CommandError(f"--learners must be between 1 and {MAX_LEARNERS:,}.")
        if not 0 <= options["revoked"] <= options["learners"]:
            raise CommandError("--revoked must be between 0 and --learners.")
        try:
            course_key = check_course_key(options["course_key"])
        except CourseRunError as error:
            raise CommandError(f"--course-key: {error}") from None
        out = self.out_path(options["out"])
        try:
            dataset = generate(
                learners=options["learners"],
                course_keys=(course_key,),
                seed=options["seed"],
                revoked=options["revoked"],
            )
        except DatasetError as error:
            raise CommandError(f"The sandbox cannot serve this demo: {error}") from None
        with transaction.atomic():  # the database is seeded only if the data file is written
            course_run = seed_course_run(course_key, timezone.now() - timedelta(days=1))
            reverted = revert_freeze(course_run).final_grades
            seeded = seed_learners(dataset)
            try:
                out.write_text(json.dumps(dataset))
            except OSError as error:
                raise CommandError(f"Cannot write --out {str(out)!r}: {error.strerror}.") from None
            password = self.staff_account(options["staff_username"])
        self.stdout.write(
            f"Seeded {seeded} learners in {course_run.edx_course_key} "
            f"(freeze date {course_run.freeze_grade_date:%Y-%m-%d %H:%M} UTC, "
            f"{options['revoked']} with revoked tokens); reverted {reverted} earlier final grades; "
            f"sandbox data in {out}."
        )
        self.stdout.write(f"Staff login: {options['staff_username']} / {password}")
        learner = self.learner_to_sign_in(dataset)
        if learner is not None:
            self.stdout.write(
                f"Learner sign-in (Sign in with edX, on the sandbox's page): "
                f"{learner} / {dataset['learners'][learner].get('password', DEFAULT_PASSWORD)}"
            )

    def learner_to_sign_in(self, dataset):
        """A learner whose tokens edX still accepts (their grade freezes), first by name."""
        learners = dataset["learners"]
        return next((name for name in sorted(learners) if not learners[name].get("revoked")), None)

    def staff_account(self, username):
        """A staff user allowed to act on freezes, with a fresh password (returned)."""
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = True
        user.set_password(password)
        user.save()
        user.user_permissions.add(Permission.objects.get(codename="freeze_final_grades"))
        return password

    def out_path(self, value):
        if "\0" in value or not value.strip():
            raise CommandError(f"--out is not a file path: {value!r}")
        out = Path(value)
        if not out.parent.is_dir():
            raise CommandError(f"The folder of --out does not exist: {str(out.parent)!r}")
        if out.is_dir():
            raise CommandError(f"--out is a folder, not a file: {str(out)!r}")
        return out
