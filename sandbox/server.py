"""The sandbox HTTP server: the Open edX endpoints edx-api-client calls, plus OAuth2.

Every request is handled on the event loop without blocking: latency, injected delays and
stalls are `asyncio.sleep`, so thousands of slow answers cost no threads. Each endpoint
first refuses what a real LMS would refuse (bad token: 401, someone else's data: 403),
then lets the fault book decide whether this answer is delayed, replaced or garbled.
"""

import asyncio
import base64
import binascii
import json
from collections import Counter
from dataclasses import dataclass

from aiohttp import BasicAuth, web

from sandbox.control import Control
from sandbox.dataset import record_course_id, validate
from sandbox.faults import FaultBook, FaultSpec, parse_faults
from sandbox.lms import Lms, Principal

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_DISCONNECT_POLL_S = 1.0
_JSON = "application/json"
_FORBIDDEN = {"detail": "You do not have permission to perform this action."}
_WOULD_BE_TOKEN = {
    "access_token": "at-pending",
    "token_type": "Bearer",
    "expires_in": 36000,
    "scope": "read write",
    "refresh_token": "rt-pending",
}


@dataclass(frozen=True)
class Reply:
    """What an endpoint answers, before rendering; `fault` replaces it if set."""

    status: int
    payload: object
    fault: FaultSpec | None = None


class Refused(Exception):
    """An answer given before any fault applies: bad credentials, forbidden data, bad input."""

    def __init__(self, status: int, payload: dict) -> None:
        super().__init__(status, payload)
        self.reply = Reply(status, payload)


class _ClientGone(Exception):
    """The client hung up while the sandbox was stalling its answer."""


class Stats:
    """Counts of requests, answers and faults, for tests and the benchmark."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        self.requests: Counter = Counter()
        self.answers: Counter = Counter()
        self.faults: Counter = Counter()
        self.abandoned: Counter = Counter()

    def snapshot(self) -> dict:
        statuses: Counter = Counter()
        by_endpoint: dict[str, dict[str, int]] = {}
        for (endpoint, status), n in self.answers.items():
            statuses[str(status)] += n
            by_endpoint.setdefault(endpoint, {})[str(status)] = n
        return {
            "requests": dict(self.requests),
            "statuses": dict(statuses),
            "endpoints": by_endpoint,
            "faults": dict(self.faults),
            "abandoned": dict(self.abandoned),
            "in_flight": self.in_flight,
        }


class Sandbox:
    """One sandbox LMS: its state, its faults, its latency, and the edX endpoint handlers."""

    def __init__(self, lms: Lms, faults: FaultBook, latency_ms: float) -> None:
        self.lms = lms
        self.faults = faults
        self.latency_s = latency_ms / 1000
        self.stats = Stats()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        endpoint = self._endpoint
        router.add_post("/oauth2/access_token", endpoint("token", self.token))
        router.add_get("/api/enrollment/v1/enrollment", endpoint("enrollments", self.enrollments))
        router.add_get(
            "/api/enrollment/v1/enrollments", endpoint("enrollments", self.enrollment_list)
        )
        router.add_get("/api/grades/v1/courses/{course_id:.+}/", endpoint("grades", self.grades))
        router.add_get(
            "/api/certificates/v0/certificates/{username}/courses/{course_id:.+}/",
            endpoint("certificates", self.certificate),
        )

    def _endpoint(self, name: str, handler):
        """Wrap a handler with latency, refusals, fault rendering and counting."""
        stats = self.stats

        async def serve(request: web.Request) -> web.StreamResponse:
            stats.requests[name] += 1
            stats.in_flight += 1
            try:
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                try:
                    reply = await handler(request)
                except Refused as refusal:
                    reply = refusal.reply
                response = await _render(reply, request, name)
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

    async def _answer(self, endpoint: str, learners: tuple, payload, status: int = 200) -> Reply:
        """The normal answer, unless the fault book says this request is hit."""
        outcome = self.faults.roll(endpoint, learners)
        if outcome is None:
            return Reply(status, payload)
        self.stats.faults[endpoint] += 1
        if outcome.delay_s:
            await asyncio.sleep(outcome.delay_s)
        return Reply(status, payload, outcome.spec)

    # --- authentication -----------------------------------------------------------------

    def _principal(self, request: web.Request) -> Principal:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(401, {"detail": "Authentication credentials were not provided."})
        principal = self.lms.principal(token.strip())
        if principal is None:
            raise Refused(401, {"detail": "Invalid or expired token."})
        if principal.username is not None and self.lms.is_revoked(principal.username):
            raise Refused(401, {"detail": "The learner revoked this application's access."})
        return principal

    def _oauth_client(self, request: web.Request, form) -> dict | None:
        """The OAuth client from the form fields or an HTTP Basic header, if its secret fits."""
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                basic = BasicAuth.decode(header)
            except ValueError:
                return None
            client_id, secret = basic.login, basic.password
        client = self.lms.clients.get(client_id) if isinstance(client_id, str) else None
        if client is None or client["client_secret"] != secret:
            return None
        return client

    # --- endpoints ----------------------------------------------------------------------

    async def token(self, request: web.Request) -> Reply:
        """POST /oauth2/access_token: refresh a learner's grant, or a client's own token."""
        form = await request.post()
        grant_type = form.get("grant_type")
        if grant_type not in ("refresh_token", "client_credentials"):
            raise Refused(400, {"error": "unsupported_grant_type"})
        client = self._oauth_client(request, form)
        if client is None:
            raise Refused(401, {"error": "invalid_client"})
        if grant_type == "client_credentials":
            reply = await self._answer("token", (), _WOULD_BE_TOKEN)
            return reply if reply.fault else Reply(200, self.lms.issue_service_token(client))
        refresh_token = str(form.get("refresh_token", ""))
        username = self.lms.refresh_token_owner(refresh_token)
        if username is None:
            raise Refused(400, _invalid_grant("The refresh token is unknown or already used."))
        if self.lms.is_revoked(username):
            raise Refused(401, _invalid_grant("The learner revoked this application's access."))
        reply = await self._answer("token", (username,), _WOULD_BE_TOKEN)
        if reply.fault:
            return reply
        granted = self.lms.redeem(refresh_token)
        if granted is None:
            raise Refused(400, _invalid_grant("The refresh token was used meanwhile."))
        return Reply(200, granted)

    async def enrollments(self, request: web.Request) -> Reply:
        """GET /api/enrollment/v1/enrollment: the token owner's enrollments, full shape."""
        principal = self._principal(request)
        if principal.username is None:
            raise Refused(403, _FORBIDDEN)
        username = principal.username
        return await self._answer("enrollments", (username,), self.lms.enrollments_of(username))

    async def enrollment_list(self, request: web.Request) -> Reply:
        """GET /api/enrollment/v1/enrollments: flat enrollments, cursor-paginated."""
        principal = self._principal(request)
        query = request.query
        course_id = query.get("course_id")
        usernames = [u for u in query.get("username", "").split(",") if u]
        if not principal.staff:
            if principal.username is None or any(u != principal.username for u in usernames):
                raise Refused(403, _FORBIDDEN)
            usernames = [principal.username]
        rows = self._enrollment_rows(course_id, usernames)
        size, offset = _page_size(query), _cursor_offset(query.get("cursor"))
        page = {
            "next": _cursor_url(request, offset + size) if offset + size < len(rows) else None,
            "previous": _cursor_url(request, max(offset - size, 0)) if offset > 0 else None,
            "results": [_flat_enrollment(e) for e in rows[offset : offset + size]],
        }
        return await self._answer("enrollments", tuple(usernames), page)

    def _enrollment_rows(self, course_id: str | None, usernames: list[str]) -> list[dict]:
        if usernames:
            return [
                enrollment
                for username in usernames
                if self.lms.learner(username) is not None
                for enrollment in self.lms.enrollments_of(username)
                if course_id is None or record_course_id(enrollment) == course_id
            ]
        if course_id is not None:
            return self.lms.course_enrollments(course_id)
        return self.lms.all_enrollments()

    async def grades(self, request: web.Request) -> Reply:
        """GET /api/grades/v1/courses/{course_id}/: one learner's grade, or the course's."""
        principal = self._principal(request)
        course_id = request.match_info["course_id"]
        username = request.query.get("username")
        if username is None:
            return await self._course_grades(request, principal, course_id)
        _check_may_read(principal, username)
        if self.lms.learner(username) is None:
            error = _edx_error("user_does_not_exist", f"The user {username} does not exist.")
            return await self._answer("grades", (), error, status=404)
        grade = self.lms.grade(username, course_id)
        if grade is None:
            error = _edx_error("user_not_enrolled", "The user is not enrolled in this course.")
            return await self._answer("grades", (username,), error, status=404)
        return await self._answer("grades", (username,), [grade])

    async def _course_grades(self, request, principal: Principal, course_id: str) -> Reply:
        """Every grade of a course run, page by page (staff only)."""
        if not principal.staff:
            raise Refused(403, _FORBIDDEN)
        if course_id not in self.lms.course_runs:
            error = _edx_error("course_does_not_exist", f"Course {course_id} does not exist.")
            return await self._answer("grades", (), error, status=404)
        rows = self.lms.course_grades(course_id)
        size, number = _page_size(request.query), _page_number(request.query)
        start = (number - 1) * size
        if start >= len(rows) and number > 1:
            raise Refused(404, {"detail": "Invalid page."})
        url = request.url
        page = {
            "next": str(url.update_query(page=number + 1)) if start + size < len(rows) else None,
            "previous": str(url.update_query(page=number - 1)) if number > 1 else None,
            "results": rows[start : start + size],
        }
        return await self._answer("grades", (), page)

    async def certificate(self, request: web.Request) -> Reply:
        """GET /api/certificates/v0/certificates/{username}/courses/{course_id}/."""
        principal = self._principal(request)
        username, course_id = request.match_info["username"], request.match_info["course_id"]
        _check_may_read(principal, username)
        found = None
        if self.lms.learner(username) is not None:
            found = self.lms.certificate(username, course_id)
        if found is None:
            error = _edx_error(
                "no_certificate_for_user", f"{username} has no certificate for {course_id}."
            )
            return await self._answer("certificates", (username,), error, status=404)
        return await self._answer("certificates", (username,), found)


SANDBOX = web.AppKey("sandbox", Sandbox)


def build_app(dataset: dict, latency_ms: float = 0, seed: int | None = None) -> web.Application:
    """The sandbox as an aiohttp application, serving `dataset` (a data file's content).

    `seed` drives fault rates and issued tokens; it defaults to the data file's "seed".
    Serve it with `start` (or any runner with handler_cancellation=True, so a client that
    hangs up cancels its pending answer).
    """
    dataset = validate(dataset)
    seed = dataset["seed"] if seed is None else seed
    faults = FaultBook(seed)
    faults.set_endpoint_faults(parse_faults(dataset["faults"], "faults"))
    for username, learner in dataset["learners"].items():
        if learner["faults"]:
            where = f"learners.{username}.faults"
            faults.set_learner_faults(username, parse_faults(learner["faults"], where))
    sandbox = Sandbox(Lms(dataset, seed), faults, latency_ms)
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
    return _json_response(404, {"detail": "Not found."})


async def _render(reply: Reply, request: web.Request, endpoint: str) -> web.Response:
    """Turn a reply into HTTP, letting its fault (if any) replace or garble it."""
    fault = reply.fault
    if fault is None:
        return _json_response(reply.status, reply.payload)
    if fault.status is not None:
        return _json_response(fault.status, _fault_body(endpoint, fault.status))
    if fault.malformed:
        body = json.dumps(reply.payload).encode()
        return web.Response(status=200, body=body[: len(body) // 2], content_type=_JSON)
    await _stall(request, fault.timeout_s)
    return _json_response(504, {"detail": "The sandbox stalled this answer (timeout fault)."})


async def _stall(request: web.Request, seconds: float) -> None:
    """Hold the answer back for `seconds`, giving up as soon as the client hangs up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        await asyncio.sleep(min(left, _DISCONNECT_POLL_S))
        transport = request.transport
        if transport is None or transport.is_closing():
            raise _ClientGone


def _json_response(status: int, payload) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload).encode(), content_type=_JSON)


def _fault_body(endpoint: str, status: int) -> dict:
    description = f"Injected by the sandbox: HTTP {status}."
    if endpoint == "token":
        error = "invalid_grant" if status in (400, 401) else "server_error"
        return {"error": error, "error_description": description}
    return {"detail": description, "error_code": "sandbox_fault"}


def _invalid_grant(description: str) -> dict:
    return {"error": "invalid_grant", "error_description": description}


def _edx_error(code: str, message: str) -> dict:
    return {"error_code": code, "developer_message": message, "user_message": message}


def _check_may_read(principal: Principal, username: str) -> None:
    """Staff read anyone's records; a learner only their own."""
    if not principal.staff and principal.username != username:
        raise Refused(403, _FORBIDDEN)


def _flat_enrollment(enrollment: dict) -> dict:
    """The enrollment as the enrollments list shows it (no course_details)."""
    return {
        "course_id": record_course_id(enrollment),
        "created": enrollment["created"],
        "is_active": enrollment["is_active"],
        "mode": enrollment["mode"],
        "user": enrollment["user"],
    }


def _page_size(query) -> int:
    """page_size as DRF reads it: default when absent or invalid, capped at the maximum."""
    try:
        size = int(query.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE) if size > 0 else DEFAULT_PAGE_SIZE


def _page_number(query) -> int:
    try:
        number = int(query.get("page", 1))
    except ValueError:
        number = 0
    if number < 1:
        raise Refused(404, {"detail": "Invalid page."})
    return number


def _cursor_url(request: web.Request, offset: int) -> str:
    cursor = base64.urlsafe_b64encode(f"o={offset}".encode()).decode().rstrip("=")
    return str(request.url.update_query(cursor=cursor))


def _cursor_offset(cursor: str | None) -> int:
    """The position an opaque cursor points at (edX cursors are base64 too)."""
    if not cursor:
        return 0
    key, offset = "", -1
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        key, _, value = decoded.partition("=")
        offset = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    if key != "o" or offset < 0:
        raise Refused(404, {"detail": "Invalid cursor."})
    return offset
