import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from gradefreeze.commands import OperatorCommand
from grades.export import COLUMNS, FORMATS, export_lines
from grades.management.commands._course_run import add_course_key_argument, course_run_from_options


class Command(OperatorCommand):
    help = (
        "Export the frozen final grades of a course run (" + ", ".join(COLUMNS) + ") as CSV "
        "or JSON, to stdout or a file; streamed, so any size runs in constant memory."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_course_key_argument(parser)
        parser.add_argument("--format", choices=FORMATS, default="csv", help="default csv")
        parser.add_argument(
            "--output",
            help="the file to write (default stdout); written whole or not at all",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output = options["output"]
        path = None if output is None else output_path(output)
        course_run = course_run_from_options(options)
        lines = export_lines(course_run, options["format"])
        if path is None:
            try:
                for line in lines:
                    sys.stdout.write(line)
                sys.stdout.flush()
            except BrokenPipeError:  # its reader stopped early (`| head`), as cat would
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(141)
            return
        partial = path.with_name(f".{path.name}.partial")
        try:
            with partial.open("w", encoding="utf-8", newline="") as file:
                file.writelines(lines)
            os.replace(partial, path)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise CommandError(f"Cannot write --output {output!r}: {error.strerror}.") from None
        self.stderr.write(f"Exported the final grades of {course_run.edx_course_key} to {path}.")


def output_path(value: str) -> Path:
    """The --output file, refused before anything is read if it cannot be one."""
    if "\0" in value or not value.strip():
        raise CommandError(f"--output is not a file path: {value!r}")
    path = Path(value)
    if path.is_dir():
        raise CommandError(f"--output is a folder, not a file: {value!r}")
    if not path.parent.is_dir():
        raise CommandError(f"The folder of --output does not exist: {str(path.parent)!r}")
    return path
