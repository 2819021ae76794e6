"""Reading a course run from the sandbox as the floor does: over aiohttp, with a staff token
and a fixed number of requests in flight. No Django here, so that certificates can be
fetched from several processes."""

import asyncio
import math
import time

import aiohttp

from sandbox.dataset import DEFAULT_STAFF_CLIENT

GRADES_PAGE_SIZE = 1000
# Usernames per enrollments request: 400 of them keep the URL under the 8 KiB a request
# line may have.
ENROLLMENT_BATCH = 400


async def staff_token(session: aiohttp.ClientSession, url: str) -> str:
    """A client-credentials token of the sandbox's staff client."""
    form = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_STAFF_CLIENT["client_id"],
        "client_secret": DEFAULT_STAFF_CLIENT["client_secret"],
    }
    async with session.post(f"{url}/oauth2/access_token", data=form) as answer:
        answer.raise_for_status()
        return (await answer.json())["access_token"]


async def _pool(items, concurrency, fetch):
    """Call `fetch` on every item with at most `concurrency` calls in flight; in order."""
    results = [None] * len(items)
    position = iter(range(len(items)))

    async def work():
        for index in position:
            results[index] = await fetch(items[index])

    await asyncio.gather(*(work() for _ in range(min(concurrency, len(items)) or 1)))
    return results


class FloorClient:
    """The run's grades, enrollments and certificates over one aiohttp session."""

    def __init__(self, session, url, course_key, concurrency):
        self.session = session
        self.url = url.rstrip("/")
        self.course_key = course_key
        self.concurrency = concurrency
        self.headers = {}

    async def authenticate(self):
        self.headers = {"Authorization": f"Bearer {await staff_token(self.session, self.url)}"}

    async def _get(self, path, params=None, missing_ok=False):
        async with self.session.get(self.url + path, params=params, headers=self.headers) as r:
            if missing_ok and r.status == 404:
                return None
            r.raise_for_status()
            return await r.json(content_type=None)

    async def grades(self, learners):
        pages = range(1, max(math.ceil(learners / GRADES_PAGE_SIZE), 1) + 1)
        path = f"/api/grades/v1/courses/{self.course_key}/"

        async def page(number):
            params = {"page": number, "page_size": GRADES_PAGE_SIZE}
            return (await self._get(path, params))["results"]

        found = await _pool(list(pages), self.concurrency, page)
        return [grade for rows in found for grade in rows]

    async def enrollments(self, usernames):
        batches = [
            usernames[i : i + ENROLLMENT_BATCH] for i in range(0, len(usernames), ENROLLMENT_BATCH)
        ]

        async def batch(names):
            params = {
                "course_id": self.course_key,
                "username": ",".join(names),
                "page_size": ENROLLMENT_BATCH,
            }
            return (await self._get("/api/enrollment/v1/enrollments", params))["results"]

        pages = await _pool(batches, self.concurrency, batch)
        return {row["user"]: row for rows in pages for row in rows}

    async def certificates(self, usernames):
        async def certificate(username):
            path = f"/api/certificates/v0/certificates/{username}/courses/{self.course_key}/"
            return await self._get(path, missing_ok=True)

        found = await _pool(usernames, self.concurrency, certificate)
        return dict(zip(usernames, found, strict=True))


def _session(concurrency):
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))


async def grades_and_enrollments(url, course_key, learners, concurrency):
    """The run's grade pages and its learners' enrollments (username -> enrollment)."""
    async with _session(concurrency) as session:
        client = FloorClient(session, url, course_key, concurrency)
        await client.authenticate()
        grades = await client.grades(learners)
        enrollments = await client.enrollments([g["username"] for g in grades])
    return grades, enrollments


async def _certificates(url, course_key, usernames, concurrency):
    async with _session(concurrency) as session:
        client = FloorClient(session, url, course_key, concurrency)
        await client.authenticate()
        return await client.certificates(usernames)


def certificates(url, course_key, usernames, concurrency) -> dict:
    """username -> certificate or None; run in a process of the floor's pool."""
    return asyncio.run(_certificates(url, course_key, usernames, concurrency))


def ready(_=None) -> float:
    """Nothing: lets the floor start its processes (and their imports) before timing."""
    return time.monotonic()
