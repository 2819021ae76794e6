"""Reading a course run from the sandbox as the floor does: over aiohttp, with a staff token
and a fixed number of requests in flight. No Django here, so that certificates can be
fetched from several processes."""

import asyncio
import time

import aiohttp

from sandbox.dataset import DEFAULT_STAFF_CLIENT

GRADES_PAGE_SIZE = 1000
# Usernames per enrollments request: edX's CourseEnrollmentsApiListForm takes at most 100
# (MAX_USERNAME_COUNT), and the listing answers 100 a page.
ENROLLMENT_BATCH = 100


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


_tokens: dict[str, str] = {}


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
        # one token per process and LMS: a pool process reads many pages' certificates
        if self.url not in _tokens:
            _tokens[self.url] = await staff_token(self.session, self.url)
        self.headers = {"Authorization": f"Bearer {_tokens[self.url]}"}

    async def _get(self, path, params=None, missing_ok=False):
        async with self.session.get(self.url + path, params=params, headers=self.headers) as r:
            if missing_ok and r.status == 404:
                return None
            r.raise_for_status()
            return await r.json(content_type=None)

    async def pipeline(self, certificates_of):
        """Every grade page, following edX's cursor (`next`); for each page, while the next
        one is read, its learners' enrollments in batches, then `certificates_of(names)`
        (awaited: username -> certificate) for those who can hold one. Returns the grade
        records, the enrollments and the certificates (by username)."""
        url = f"{self.url}/api/grades/v1/courses/{self.course_key}/"
        params = {"page_size": GRADES_PAGE_SIZE}
        in_flight = asyncio.Semaphore(self.concurrency)
        grades, enrollments, certificates, pages = [], {}, {}, []

        async def batch(names):
            query = {"course_id": self.course_key, "username": ",".join(names)}
            async with in_flight:
                return (await self._get("/api/enrollment/v1/enrollments", query))["results"]

        async def rest_of_page(names):
            batches = range(0, len(names), ENROLLMENT_BATCH)
            found = await asyncio.gather(*(batch(names[i : i + ENROLLMENT_BATCH]) for i in batches))
            page = {row["user"]: row for rows in found for row in rows}
            enrollments.update(page)
            can_hold = [name for name, row in page.items() if row["mode"] != "audit"]
            certificates.update(await certificates_of(can_hold))

        while url:
            async with self.session.get(url, params=params, headers=self.headers) as r:
                r.raise_for_status()
                page = await r.json(content_type=None)
            grades += page["results"]
            names = [grade["username"] for grade in page["results"]]
            pages.append(asyncio.ensure_future(rest_of_page(names)))
            url, params = page.get("next"), None
        await asyncio.gather(*pages)
        return grades, enrollments, certificates

    async def certificates(self, usernames):
        async def certificate(username):
            path = f"/api/certificates/v0/certificates/{username}/courses/{self.course_key}/"
            return await self._get(path, missing_ok=True)

        found = await _pool(usernames, self.concurrency, certificate)
        return dict(zip(usernames, found, strict=True))


def _session(concurrency):
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))


async def floor_reads(url, course_key, concurrency, certificates_of):
    """The run's grade records, and its learners' enrollments and certificates (by username),
    read as FloorClient.pipeline does."""
    async with _session(concurrency) as session:
        client = FloorClient(session, url, course_key, concurrency)
        await client.authenticate()
        return await client.pipeline(certificates_of)


# A pool process keeps one event loop and one session per concurrency: the pages'
# certificates it fetches one call after another reuse its connections.
_loop = None
_sessions: dict[int, aiohttp.ClientSession] = {}


async def _certificates(url, course_key, usernames, concurrency):
    if concurrency not in _sessions:
        _sessions[concurrency] = _session(concurrency)
    client = FloorClient(_sessions[concurrency], url, course_key, concurrency)
    await client.authenticate()
    return await client.certificates(usernames)


def certificates(url, course_key, usernames, concurrency) -> dict:
    """username -> certificate or None; run in a process of the floor's pool."""
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(_certificates(url, course_key, usernames, concurrency))


def ready(_=None) -> float:
    """Nothing: lets the floor start its processes (and their imports) before timing."""
    return time.monotonic()
