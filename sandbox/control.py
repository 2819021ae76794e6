"""Control endpoints under /_sandbox/: look inside the sandbox and change it while it runs.

Tests and the benchmark use them to read request counts (and how close a client came to
the LMS's rate limits), switch faults on and off, and change a learner's grades between two
freezes. They need no token, add no latency and are not counted.
"""

import json
from typing import TYPE_CHECKING

from aiohttp import web

from sandbox.dataset import DatasetError, validate_learner
from sandbox.faults import FaultError, parse_fault_changes, parse_faults
from sandbox.oauth import TokenConflict

if TYPE_CHECKING:
    from sandbox.server import Sandbox


class _BadRequest(Exception):
    """A control request the sandbox cannot act on; carries the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Control:
    """Handlers for /_sandbox/ endpoints, acting on one sandbox."""

    def __init__(self, sandbox: "Sandbox") -> None:
        self.sandbox = sandbox

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/_sandbox/health", self.health)
        router.add_get("/_sandbox/stats", self.stats)
        router.add_get("/_sandbox/settings", self.settings)
        router.add_post("/_sandbox/stats/reset", self.reset_stats)
        router.add_get("/_sandbox/faults", self.faults)
        router.add_put("/_sandbox/faults", _answers_errors(self.put_faults))
        router.add_delete("/_sandbox/faults", self.clear_faults)
        router.add_get("/_sandbox/learners/{username}", _answers_errors(self.learner))
        router.add_put("/_sandbox/learners/{username}", _answers_errors(self.put_learner))

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.sandbox.stats.snapshot())

    async def settings(self, request: web.Request) -> web.Response:
        """The settings in force (throttles, rates, token lifetimes)."""
        return web.json_response(self.sandbox.settings.to_json())

    async def reset_stats(self, request: web.Request) -> web.Response:
        self.sandbox.stats.reset()
        return web.json_response(self.sandbox.stats.snapshot())

    async def faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.sandbox.faults.snapshot())

    async def put_faults(self, request: web.Request) -> web.Response:
        """Replace the faults of the endpoints named in the body; null removes one.

        All changes are checked before any is made, so a bad body changes nothing.
        """
        body = await _json_object(request)
        unknown = set(body) - {"faults", "learners"}
        if unknown:
            raise _BadRequest(400, f"unknown key(s) {sorted(unknown)}; known: faults, learners")
        learners = body.get("learners", {})
        if not isinstance(learners, dict):
            raise _BadRequest(400, "learners: must be an object keyed by username")
        try:
            endpoint_changes = parse_fault_changes(body.get("faults", {}), "faults")
            learner_changes = {
                username: self._learner_fault_changes(username, entry)
                for username, entry in learners.items()
            }
        except FaultError as error:
            raise _BadRequest(400, str(error)) from None
        book = self.sandbox.faults
        book.set_endpoint_faults(endpoint_changes)
        for username, changes in learner_changes.items():
            book.set_learner_faults(username, changes)
        return web.json_response(book.snapshot())

    def _learner_fault_changes(self, username: str, entry: object) -> dict:
        if self.sandbox.lms.learner(username) is None:
            raise _BadRequest(404, f"learners.{username}: no such learner")
        if not isinstance(entry, dict) or set(entry) - {"faults"}:
            raise _BadRequest(400, f'learners.{username}: must be {{"faults": {{...}}}}')
        return parse_fault_changes(entry.get("faults", {}), f"learners.{username}.faults")

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.sandbox.faults.clear()
        return web.json_response(self.sandbox.faults.snapshot())

    async def learner(self, request: web.Request) -> web.Response:
        """A learner as the sandbox holds it now, with the tokens currently valid."""
        username = request.match_info["username"]
        learner = self.sandbox.lms.learner(username)
        if learner is None:
            raise _BadRequest(404, f"no such learner: {username}")
        return web.json_response({**learner, **self._current_tokens(username)})

    async def put_learner(self, request: web.Request) -> web.Response:
        """Create or replace a learner. Tokens given replace the learner's grants; left out,
        the grants stay as they are. `"revoked": true` deletes them; `false` gives a
        revoked learner their last pair back."""
        username = request.match_info["username"]
        body = await _json_object(request)
        authority = self.sandbox.authority
        known = self.sandbox.lms.learner(username) is not None
        try:
            learner = validate_learner(
                username, body, f"learner {username}", require_tokens=not known
            )
            specs = parse_faults(learner["faults"], f"learner {username}.faults")
        except (DatasetError, FaultError) as error:
            raise _BadRequest(400, str(error)) from None
        given = "access_token" in learner or "refresh_token" in learner
        if not known or given or (not learner["revoked"] and not authority.holds_tokens(username)):
            shown = authority.shown_tokens(username) if known else (None, None)
            pair = (learner.get("access_token", shown[0]), learner.get("refresh_token", shown[1]))
            try:
                authority.give_tokens(username, *pair)
            except TokenConflict as error:
                raise _BadRequest(409, f"learner {username}: {error}") from None
        if learner["revoked"]:
            authority.revoke(username)
        created = self.sandbox.lms.put_learner(username, learner)
        self.sandbox.faults.forget_learner(username)
        self.sandbox.faults.set_learner_faults(username, specs)
        answer = {"username": username, "created": created, **self._current_tokens(username)}
        return web.json_response(answer, status=201 if created else 200)

    def _current_tokens(self, username: str) -> dict:
        access, refresh = self.sandbox.authority.shown_tokens(username)
        return {"access_token": access, "refresh_token": refresh}


def _answers_errors(handler):
    """Answer a _BadRequest as a JSON error instead of a server error."""

    async def handle(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except _BadRequest as error:
            return web.json_response({"error": str(error)}, status=error.status)

    return handle


async def _json_object(request: web.Request) -> dict:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _BadRequest(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise _BadRequest(400, "the body must be a JSON object")
    return body
