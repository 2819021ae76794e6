"""The base of the project's management commands: bad input is one line, never a usage dump.

argparse answers a bad option with the usage and an error on two or more lines, exit
status 2, and echoes what it was given as it is (newlines, terminal escapes). Operators
and scripts read one line on stderr and exit status 1 (bad input), the same as a
CommandError from the command itself.
"""

import sys

from django.core.management.base import BaseCommand, CommandError


def printable(text):
    """The text on one line: characters that are not printable are written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class OperatorCommand(BaseCommand):
    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        report = parser.error
        parser.error = lambda message: report(printable(message))  # type: ignore[method-assign]
        return parser

    def run_from_argv(self, argv):
        # Parsed first outside the command line, where Django's parser raises
        # CommandError instead of printing the usage; then run as Django does.
        parser = self.create_parser(argv[0], argv[1])
        try:
            parser.parse_args(argv[2:])
        except CommandError as error:
            message = str(error).removeprefix("Error: ")
            self.stderr.write(f"CommandError: {message} (see {parser.prog} --help)")
            sys.exit(1)
        super().run_from_argv(argv)
