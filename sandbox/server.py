"""The sandbox HTTP server: the Open edX endpoints gradefreeze uses, answered as edX does.

Every request is handled on the event loop without blocking: latency, injected delays and
stalls are `asyncio.sleep`, so thousands of slow answers cost no threads. Each endpoint
first refuses what a real LMS would refuse, in edX's order (credentials: 401, permission:
403, rate limit: 429, bad input: 400/404), then lets the fault book decide whether this
answer is delayed, replaced or garbled. The endpoints themselves are in `sandbox.tokens`,
`sandbox.signin`, `sandbox.enrollments`, `sandbox.grades`, `sandbox.certificates` and
`sandbox.accounts`.
"""

import asyncio
import json
import time

from aiohttp import web

from sandbox import accounts, certificates, enrollments, grades, signin, tokens
from sandbox.answers import NOT_AUTHENTICATED, SERVER_ERROR_PAGE, Refused, Reply, Style, refused
from sandbox.auth import AuthFailed, authenticate
from sandbox.control import Control
from sandbox.dataset import DatasetError, validate
from sandbox.faults import FaultBook, parse_faults
from sandbox.lms import Lms
from sandbox.oauth import Authority, Principal
from sandbox.settings import SandboxSettings, SettingsError, parse_settings
from sandbox.stats import Stats
from sandbox.throttles import Throttles

_DISCONNECT_POLL_S = 1.0
_JSON = "application/json"


class _ClientGone(Exception):
    """The client hung up while the sandbox was stalling its answer."""


class Sandbox:
    """One sandbox LMS: its records, OAuth provider, faults, limits, latency and counts."""

    def __init__(
        self,
        lms: Lms,
        authority: Authority,
        faults: FaultBook,
        settings: SandboxSettings,
        latency_ms: float,
    ) -> None:
        self.lms = lms
        self.authority = authority
        self.faults = faults
        self.settings = settings
        self.throttles = Throttles(settings)
        self.latency_s = latency_ms / 1000
        self.stats = Stats()
        self.sessions: dict[str, str] = {}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """edx-platform's URLs; where edX has a trailing slash (or makes it optional),
        so does the sandbox, and a GET without it is redirected as Django's APPEND_SLASH
        does."""
        endpoint = self._endpoint
        for path in ("/oauth2/access_token", "/oauth2/access_token/"):
            router.add_post(path, endpoint("token", tokens.access_token))
        for path in ("/oauth2/authorize", "/oauth2/authorize/"):
            router.add_get(path, endpoint("authorize", signin.authorize))
            router.add_post(path, endpoint("authorize", signin.decide))
        router.add_get("/login", endpoint("login", signin.login_page))
        router.add_post("/login", endpoint("login", signin.log_in))
        router.add_get("/logout", endpoint("login", signin.log_out))
        router.add_get("/api/enrollment/v1/enrollment", endpoint("enrollments", enrollments.own))
        # enrollments/urls.py: enrollment/{USERNAME_PATTERN},{COURSE_ID_PATTERN}
        router.add_get(
            r"/api/enrollment/v1/enrollment/{username:[\w .@_+-]+},{course_id:[^/]+}",
            endpoint("enrollments", enrollments.one),
        )
        for path in ("/api/enrollment/v1/enrollments", "/api/enrollment/v1/enrollments/"):
            router.add_get(path, endpoint("enrollments", enrollments.listing))
        router.add_get("/api/grades/v1/courses/", endpoint("grades", grades.course_grades))
        router.add_get(
            "/api/grades/v1/courses/{course_id:.+}/", endpoint("grades", grades.course_grades)
        )
        router.add_get(
            "/api/certificates/v0/certificates/{username}/courses/{course_id:.+}/",
            endpoint("certificates", certificates.detail),
        )
        router.add_get("/api/user/v1/me", endpoint("user", accounts.me))
        router.add_get("/api/user/v1/accounts/{username}", endpoint("user", accounts.account))
        for path in (
            "/api/grades/v1/courses",
            "/api/grades/v1/courses/{course_id:.+}",
            "/api/certificates/v0/certificates/{username}/courses/{course_id:.+}",
        ):
            router.add_get(path, _append_slash)

    def _endpoint(self, name: str, handler):
        """Wrap a handler with counting, latency, refusals and fault rendering."""
        stats = self.stats

        async def serve(request: web.Request) -> web.StreamResponse:
            stats.arrived(name, time.monotonic())
            stats.in_flight += 1
            try:
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                try:
                    reply = await handler(self, request)
                except Refused as refusal:
                    reply = refusal.reply
                    if refusal.throttled:
                        stats.throttled[name] += 1
                if isinstance(reply, Reply):
                    response = await _render(reply, request, name)
                else:
                    response = reply
                stats.answers[name, response.status] += 1
                return response
            except _ClientGone:
                stats.abandoned[name] += 1
                return web.Response(status=499)  # nobody is listening any more
            except asyncio.CancelledError:
                stats.abandoned[name] += 1
                raise
            finally:
                stats.in_flight -= 1

        return serve

    def principal(
        self, request: web.Request, style: Style, anonymous: str = NOT_AUTHENTICATED
    ) -> Principal:
        """The authenticated principal, or the view's 401 (`anonymous` when none)."""
        try:
            principal = authenticate(self, request)
        except AuthFailed as failure:
            raise refused(style, 401, failure.detail) from None
        if principal is None:
            raise refused(style, 401, anonymous)
        return principal

    async def answer(
        self, endpoint: str, learners: tuple, payload, status: int = 200, listing: bool = False
    ) -> Reply:
        """The normal answer, unless the fault book says this request is hit."""
        outcome = self.faults.roll(endpoint, learners, listing)
        if outcome is None:
            return Reply(status, payload)
        self.stats.faults[endpoint] += 1
        if outcome.delay_s:
            await asyncio.sleep(outcome.delay_s)
        return Reply(status, payload, outcome.spec)


SANDBOX = web.AppKey("sandbox", Sandbox)


def build_app(
    dataset: dict, latency_ms: float = 0, seed: int | None = None, **settings
) -> web.Application:
    """The sandbox as an aiohttp application, serving `dataset` (a data file's content).

    `seed` drives fault rates and issued tokens; it defaults to the data file's "seed".
    `settings` are keys of the data file's "settings" (throttles="off",
    rates={"enrollments_staff": "600/minute"}, unicode_usernames=True, ...) and override
    it. Serve it with `start` (or any runner with handler_cancellation=True, so a client
    that hangs up cancels its pending answer).
    """
    dataset = validate(dataset)
    try:
        effective = parse_settings(settings, "settings", parse_settings(dataset["settings"]))
    except SettingsError as error:
        raise DatasetError(str(error)) from None
    seed = dataset["seed"] if seed is None else seed
    faults = FaultBook(seed)
    faults.set_endpoint_faults(parse_faults(dataset["faults"], "faults"))
    for username, learner in dataset["learners"].items():
        if learner["faults"]:
            where = f"learners.{username}.faults"
            faults.set_learner_faults(username, parse_faults(learner["faults"], where))
    authority = Authority.from_dataset(dataset, effective, seed)
    sandbox = Sandbox(Lms(dataset), authority, faults, effective, latency_ms)
    app = web.Application()
    app[SANDBOX] = sandbox
    sandbox.add_routes(app.router)
    Control(sandbox).add_routes(app.router)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


async def start(app: web.Application, host: str = "127.0.0.1", port: int = 0):
    """Serve `app` on host:port (0: any free port); returns (runner, base URL).

    Call `await runner.cleanup()` to stop; pending answers get one second to finish.
    """
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1]
    url_host = f"[{host}]" if ":" in host else host
    return runner, f"http://{url_host}:{bound_port}/"


async def _not_found(request: web.Request) -> web.Response:
    return json_response(404, {"detail": "Not found."})


async def _append_slash(request: web.Request) -> web.Response:
    """Django's CommonMiddleware (APPEND_SLASH): 301 to the same path with a slash."""
    location = request.rel_url.with_path(request.rel_url.path + "/")
    if request.rel_url.query_string:
        location = location.with_query(request.rel_url.query_string)
    raise web.HTTPMovedPermanently(location=str(location))


async def _render(reply: Reply, request: web.Request, endpoint: str) -> web.Response:
    """Turn a reply into HTTP, letting its fault (if any) replace or garble it."""
    fault = reply.fault
    if fault is None:
        if reply.html is not None:
            return web.Response(
                status=reply.status,
                text=reply.html,
                content_type="text/html",
                headers=reply.headers,
            )
        if reply.payload is None:
            return web.Response(status=reply.status, headers=reply.headers)
        return json_response(reply.status, reply.payload, reply.headers)
    if fault.status is not None:
        return json_response(fault.status, _fault_body(endpoint, fault.status))
    if fault.read_error:
        return web.Response(status=500, text=SERVER_ERROR_PAGE, content_type="text/html")
    if fault.malformed:
        body = json.dumps(reply.payload).encode()
        return web.Response(status=200, body=body[: len(body) // 2], content_type=_JSON)
    await _stall(request, fault.timeout_s)
    return json_response(504, {"detail": "The sandbox stalled this answer (timeout fault)."})


async def _stall(request: web.Request, seconds: float) -> None:
    """Hold the answer back for `seconds`, giving up as soon as the client hangs up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        await asyncio.sleep(min(left, _DISCONNECT_POLL_S))
        transport = request.transport
        if transport is None or transport.is_closing():
            raise _ClientGone


def json_response(status: int, payload, headers: dict | None = None) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(payload).encode(), content_type=_JSON, headers=headers
    )


def _fault_body(endpoint: str, status: int) -> dict:
    description = f"Injected by the sandbox: HTTP {status}."
    if endpoint == "token":
        error = "invalid_grant" if status in (400, 401) else "server_error"
        return {"error": error, "error_description": description}
    return {"detail": description, "error_code": "sandbox_fault"}
