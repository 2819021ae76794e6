"""How many answers a second the sandbox sustains: many concurrent clients asking for
learners' certificates and current grades (the requests a freeze makes most) for a while.

`python -m bench.lms_load --learners 100000 --connections 200 400 --seconds 10` starts a
sandbox with 20 ms latency, loads it from `--clients` processes, and prints, per
concurrency, the answers per second and the sandbox's CPU time per answer (what one core
would sustain is its inverse, whatever else the machine is doing).
"""

import argparse
import asyncio
import json
import multiprocessing
import random
import sys
import time

import aiohttp

from bench.lms_reads import staff_token
from sandbox.dataset import DEFAULT_COURSE_KEY, generate


async def _load(url, learners, connections, seconds, seed):
    """Answers by status, and their latencies, over `seconds` at `connections` in flight."""
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        headers = {"Authorization": f"Bearer {await staff_token(session, url)}"}
        statuses: dict[str, int] = {}
        latencies: list[float] = []
        rng = random.Random(seed)
        deadline = time.monotonic() + seconds
        key = DEFAULT_COURSE_KEY

        async def client() -> None:
            while time.monotonic() < deadline:
                username = f"learner{rng.randint(1, learners):05d}"
                if rng.random() < 0.5:
                    path = f"/api/certificates/v0/certificates/{username}/courses/{key}/"
                else:
                    path = f"/api/grades/v1/courses/{key}/?username={username}"
                started = time.monotonic()
                async with session.get(url + path, headers=headers) as answer:
                    await answer.read()
                    statuses[str(answer.status)] = statuses.get(str(answer.status), 0) + 1
                latencies.append(time.monotonic() - started)

        await asyncio.gather(*(client() for _ in range(connections)))
    return statuses, latencies


def _client_process(options):
    return asyncio.run(_load(*options))


def measure(sandbox, learners, connections, seconds, clients) -> dict:
    """Load the sandbox from `clients` processes sharing `connections` connections."""
    share = max(connections // clients, 1)
    cpu = sandbox.cpu_seconds()
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        done = pool.map(
            _client_process,
            [(sandbox.url, learners, share, seconds, n) for n in range(clients)],
        )
    elapsed = time.monotonic() - started
    cpu = sandbox.cpu_seconds() - cpu
    statuses: dict[str, int] = {}
    latencies = sorted(latency for _, client_latencies in done for latency in client_latencies)
    for client_statuses, _ in done:
        for status, n in client_statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    answered = sum(statuses.values())
    return {
        "connections": share * clients,
        "answers": answered,
        "answers_per_s": round(answered / seconds),
        "sandbox_cpu_ms_per_answer": round(cpu * 1000 / answered, 3),
        "answers_per_sandbox_cpu_s": round(answered / cpu),
        "statuses": statuses,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "wall_s": round(elapsed, 1),
    }


def main(argv=None) -> int:
    from bench.processes import ROOT, SandboxProcess

    parser = argparse.ArgumentParser(prog="python -m bench.lms_load", description=__doc__)
    parser.add_argument("--learners", type=int, default=100000)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--connections", type=int, nargs="+", default=[100, 200, 400, 800])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=2, help="load generating processes")
    args = parser.parse_args(argv)
    var_dir = ROOT / "var" / "bench"
    var_dir.mkdir(parents=True, exist_ok=True)
    data_file = var_dir / f"lms-load-{args.learners}.json"
    data_file.write_text(json.dumps(generate(learners=args.learners, revoked=0)))
    sandbox = SandboxProcess(data_file, args.latency_ms, var_dir / "lms-load-sandbox.log")
    try:
        for connections in args.connections:
            result = measure(sandbox, args.learners, connections, args.seconds, args.clients)
            print(json.dumps(result), flush=True)
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
