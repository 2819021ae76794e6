"""Command line: `python -m sandbox serve ...` and `python -m sandbox generate ...`.

Bad input (a missing or malformed data file, a wrong option) is one line on stderr and exit
status 2, so scripts and CI logs show the cause at a glance.
"""

import argparse
import asyncio
import gc
import json
import signal
import sys
from pathlib import Path
from typing import NoReturn

from sandbox.dataset import (
    DEFAULT_CLIENT,
    DEFAULT_COURSE_KEY,
    DEFAULT_STAFF_CLIENT,
    DatasetError,
    generate,
    load,
)
from sandbox.server import build_app, start
from sandbox.settings import EDX_RATES

EXIT_BAD_INPUT = 2
EXIT_CANNOT_SERVE = 1


class _Parser(argparse.ArgumentParser):
    """argparse, except that usage errors are one line on stderr like any other bad input."""

    def error(self, message: str) -> NoReturn:
        _fail(f"{message} (see {self.prog} --help)")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m sandbox", description="A stand-in Open edX LMS.")
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="{serve,generate}"
    )
    serve = commands.add_parser("serve", help="serve a data file over HTTP until killed")
    serve.add_argument("--data", required=True, metavar="FILE", help="JSON data file")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=18000, help="0 picks a free port")
    serve.add_argument(
        "--latency-ms", type=_non_negative, default=0.0, help="added to every edX answer"
    )
    serve.add_argument("--seed", type=int, help="seed for fault rates (default: the file's)")
    serve.add_argument(
        "--throttles",
        choices=("edx", "off"),
        help="edX's rate limits (the default, unless the data file says otherwise) or none",
    )
    serve.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="NAME=RATE",
        help=f"change one limit, e.g. enrollments_staff=600/minute or token=off; "
        f"names and edX's rates: {', '.join(f'{k}={v}' for k, v in EDX_RATES.items())}",
    )
    serve.add_argument("--token-rate", metavar="RATE", help="same as --rate token=RATE")
    serve.add_argument(
        "--unicode-usernames",
        action="store_true",
        default=None,
        help="validate usernames as with ENABLE_UNICODE_USERNAME",
    )
    serve.set_defaults(run=_serve)

    gen = commands.add_parser("generate", help="write a generated demo data file")
    gen.add_argument("--out", required=True, metavar="FILE", help="where to write ('-': stdout)")
    gen.add_argument("--learners", type=_whole, default=300)
    gen.add_argument(
        "--course-key",
        action="append",
        dest="course_keys",
        metavar="KEY",
        help=f"a course run to enroll everyone in; repeatable (default {DEFAULT_COURSE_KEY})",
    )
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--revoked", type=_whole, default=10, help="learners who revoked access")
    gen.add_argument("--no-certificate-share", type=_share, default=0.3)
    gen.add_argument("--passed-share", type=_share, default=0.6)
    gen.add_argument("--audit-share", type=_share, default=0.2)
    gen.add_argument("--honor-share", type=_share, default=0.1)
    gen.add_argument(
        "--client-id", default=DEFAULT_CLIENT["client_id"], help="the learners' client"
    )
    gen.add_argument("--client-secret", default=DEFAULT_CLIENT["client_secret"])
    gen.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        metavar="URI",
        help="where the learners' client may be sent back to; repeatable "
        f"(default {DEFAULT_CLIENT['redirect_uris']})",
    )
    gen.add_argument(
        "--staff-client-id",
        default=DEFAULT_STAFF_CLIENT["client_id"],
        help="the staff client (client credentials)",
    )
    gen.add_argument("--staff-client-secret", default=DEFAULT_STAFF_CLIENT["client_secret"])
    gen.set_defaults(run=_generate)
    return parser


def _serve(args: argparse.Namespace) -> int:
    try:
        dataset = load(args.data)
        app = build_app(
            dataset, latency_ms=args.latency_ms, seed=args.seed, **_settings_options(args)
        )
    except DatasetError as error:
        _fail(str(error))
    gc.freeze()  # the dataset lives as long as the process: spare the collector rescanning it
    summary = (
        f"{_count(len(dataset['learners']), 'learner')}, "
        f"{_count(len(dataset['course_runs']), 'course run')}"
    )
    try:
        asyncio.run(_serve_until_signalled(app, args.host, args.port, summary, args.latency_ms))
    except OSError as error:
        _fail(f"cannot serve on {args.host}:{args.port}: {error.strerror}", EXIT_CANNOT_SERVE)
    return 0


async def _serve_until_signalled(app, host: str, port: int, summary: str, latency_ms) -> None:
    """Serve until SIGINT or SIGTERM, then close connections and return."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    runner, url = await start(app, host, port)
    print(
        f"sandbox: serving {summary} on {url.rstrip('/')} (latency {latency_ms:g} ms)", flush=True
    )
    try:
        await stopping.wait()
    finally:
        await runner.cleanup()


def _settings_options(args: argparse.Namespace) -> dict:
    """The command line's settings, in the shape of the data file's "settings"."""
    options = {}
    if args.throttles is not None:
        options["throttles"] = args.throttles
    rates = {}
    for text in args.rate:
        name, equals, rate = text.partition("=")
        if not equals:
            _fail(f"--rate: expected NAME=RATE, got {text!r} (see python -m sandbox serve --help)")
        rates[name.strip()] = rate.strip()
    if args.token_rate is not None:
        rates["token"] = args.token_rate
    if rates:
        options["rates"] = rates
    if args.unicode_usernames:
        options["unicode_usernames"] = True
    return options


def _generate(args: argparse.Namespace) -> int:
    client = {
        **DEFAULT_CLIENT,
        "client_id": args.client_id,
        "client_secret": args.client_secret,
        "redirect_uris": " ".join(args.redirect_uris or [DEFAULT_CLIENT["redirect_uris"]]),
    }
    staff_client = {
        **DEFAULT_STAFF_CLIENT,
        "client_id": args.staff_client_id,
        "client_secret": args.staff_client_secret,
    }
    try:
        dataset = generate(
            learners=args.learners,
            course_keys=tuple(args.course_keys or (DEFAULT_COURSE_KEY,)),
            seed=args.seed,
            revoked=args.revoked,
            no_certificate_share=args.no_certificate_share,
            passed_share=args.passed_share,
            audit_share=args.audit_share,
            honor_share=args.honor_share,
            client=client,
            staff_client=staff_client,
        )
    except DatasetError as error:
        _fail(str(error))
    text = json.dumps(dataset) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as error:
        _fail(f"{args.out}: cannot write it ({error.strerror})")
    print(f"sandbox: wrote {_count(args.learners, 'learner')} to {args.out}", flush=True)
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _fail(message: str, status: int = EXIT_BAD_INPUT) -> NoReturn:
    print(f"sandbox: error: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def _number_in(convert, low: float, high: float, meaning: str):
    """An argparse type: `convert` the text and insist it lies in [low, high]."""

    def check(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {meaning}, got {text!r}")
        return value

    return check


_port = _number_in(int, 0, 65535, "a port number (0 to 65535)")
_non_negative = _number_in(float, 0, float("inf"), "a number >= 0")
_whole = _number_in(int, 0, float("inf"), "a whole number >= 0")
_share = _number_in(float, 0, 1, "a number between 0 and 1")


if __name__ == "__main__":
    sys.exit(main())
