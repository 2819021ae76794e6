"""The real processes the benchmark drives: the sandbox LMS and a Celery worker, and a
sampler of a process tree's memory and CPU read from /proc."""

import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server the caller starts next)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM (a warm shutdown for a Celery worker), then SIGKILL if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    process: subprocess.Popen | None = None,
) -> None:
    """Poll `predicate` until it holds; TimeoutError after `timeout` s, or as soon as
    `process` (the one that should make it hold) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise TimeoutError(f"{what}: the process exited with status {process.returncode}")
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what}: not done after {timeout:g} s")


class SandboxProcess:
    """`python -m sandbox serve` on a data file, on a free port."""

    def __init__(
        self,
        data_file: Path,
        latency_ms: float,
        log_file: Path,
        throttles: str = "off",
        startup_timeout_s: float = 120,
    ) -> None:
        self._peak_rss_mb = 0.0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log_file, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "serve", "--data", str(data_file)]
            + ["--port", str(self.port), "--latency-ms", f"{latency_ms:g}"]
            # "off" by default: that measures the freeze's speed, not the LMS's rate limits;
            # "edx" measures it against edx-platform's default limits
            + ["--throttles", throttles],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(self.healthy, startup_timeout_s, "the sandbox", self.process)
        except TimeoutError:
            self.stop()  # a sandbox still reading a large file would outlive the bench
            raise

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/_sandbox/health", timeout=1).ok
        except requests.RequestException:
            return False

    def stats(self) -> dict:
        return requests.get(f"{self.url}/_sandbox/stats", timeout=10).json()

    def settings(self) -> dict:
        return requests.get(f"{self.url}/_sandbox/settings", timeout=10).json()

    def reset_stats(self) -> None:
        requests.post(f"{self.url}/_sandbox/stats/reset", timeout=10).raise_for_status()

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)

    def peak_rss_mb(self) -> float:
        """The most memory the sandbox has held (its VmHWM), kept once it has stopped."""
        if self.process.poll() is None:
            self._peak_rss_mb = round(_status_kb(self.process.pid, "VmHWM") / 1024, 1)
        return self._peak_rss_mb

    def stop(self) -> None:
        self.peak_rss_mb()  # read while the process is there to read it from
        stop(self.process)
        self._log.close()


def _status_kb(pid: int, name: str) -> int:
    """A memory figure of /proc/PID/status, in kB (0 once the process is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        key, _, value = line.partition(":")
        if key == name:
            return int(value.split()[0])
    return 0


class WorkerProcess:
    """`celery -A bench.worker worker` (prefork: the platform's worker with the SQL counter)
    on its own queue, with extra environment."""

    def __init__(self, name: str, queue: str, concurrency: int, env: dict, log_file: Path):
        self.hostname = f"{name}@{socket.gethostname()}"
        self._log = open(log_file, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bench.worker", "worker", "-P", "prefork"]
            + ["-c", str(concurrency), "-Q", queue, "-n", self.hostname, "-l", "WARNING"]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, celery_app) -> None:
        def answers() -> bool:
            return bool(celery_app.control.ping(destination=[self.hostname], timeout=0.5))

        wait_until(answers, 60, "the Celery worker", self.process)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        stop(self.process)
        self._log.close()


def rss_mb(pid: int) -> float:
    """A process's resident memory now (0 once it is gone)."""
    return _status_kb(pid, "VmRSS") / 1024


def own_peak_rss_mb() -> float:
    """This process's peak RSS so far (the kernel's high-water mark)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, from the parent ids in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def tree_memory_bytes(root: int) -> tuple[int, int]:
    """Memory of a process tree: the sum of its processes' RSS, and of their PSS (pages
    shared by forked processes counted once, split between them)."""
    rss = pss = 0
    for pid in process_tree(root):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            name, _, value = line.partition(":")
            if name == "Rss":
                rss += int(value.split()[0]) * 1024
            elif name == "Pss":
                pss += int(value.split()[0]) * 1024
    return rss, pss


class PeakRss:
    """Samples a process tree's memory every `interval` seconds in a thread; keeps the
    peak RSS (and the peak PSS in `peak_pss`)."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        self.peak = 0
        self.peak_pss = 0
        self._root = root
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stopping.is_set():
            rss, pss = tree_memory_bytes(self._root)
            self.peak = max(self.peak, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self._stopping.wait(self._interval)

    def stop(self) -> int:
        self._stopping.set()
        self._thread.join()
        return self.peak
