"""How many answers a second the sandbox sustains: many concurrent clients, each asking for
a learner's certificate or current grade (the requests a freeze makes most), for a while.

`python -m bench.lms_load --url http://127.0.0.1:18000 --connections 200 --seconds 10`
"""

import argparse
import asyncio
import json
import random
import sys
import time

import aiohttp

from sandbox.dataset import DEFAULT_CLIENT, DEFAULT_COURSE_KEY


async def staff_token(session: aiohttp.ClientSession, url: str) -> str:
    """A client-credentials token of the sandbox's staff client."""
    form = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_CLIENT["client_id"],
        "client_secret": DEFAULT_CLIENT["client_secret"],
    }
    async with session.post(f"{url}/oauth2/access_token", data=form) as answer:
        answer.raise_for_status()
        return (await answer.json())["access_token"]


async def measure(url, learners, connections, seconds, course_key=DEFAULT_COURSE_KEY):
    """Answers per second and their statuses, over `seconds` at `connections` in flight."""
    url = url.rstrip("/")
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        headers = {"Authorization": f"Bearer {await staff_token(session, url)}"}
        statuses: dict[int, int] = {}
        latencies: list[float] = []
        rng = random.Random(1)
        deadline = time.monotonic() + seconds

        async def client() -> None:
            while time.monotonic() < deadline:
                username = f"learner{rng.randint(1, learners):05d}"
                if rng.random() < 0.5:
                    path = f"/api/certificates/v0/certificates/{username}/courses/{course_key}/"
                else:
                    path = f"/api/grades/v1/courses/{course_key}/?username={username}"
                started = time.monotonic()
                async with session.get(url + path, headers=headers) as answer:
                    await answer.read()
                    statuses[answer.status] = statuses.get(answer.status, 0) + 1
                latencies.append(time.monotonic() - started)

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(connections)))
        elapsed = time.monotonic() - started
    latencies.sort()
    answered = sum(statuses.values())
    return {
        "connections": connections,
        "seconds": round(elapsed, 2),
        "answers": answered,
        "answers_per_s": round(answered / elapsed),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lms_load", description=__doc__)
    parser.add_argument("--url", required=True, help="the sandbox's base URL")
    parser.add_argument("--learners", type=int, required=True, help="learners in its data")
    parser.add_argument("--connections", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args(argv)
    for connections in args.connections:
        result = asyncio.run(measure(args.url, args.learners, connections, args.seconds))
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
