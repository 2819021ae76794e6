"""Run a sandbox in a background thread, for synchronous tests and clients.

edx-api-client and requests block, so tests need a real server running beside them: this
gives the sandbox its own event loop in a daemon thread, on a free localhost port.
"""

import asyncio
import threading

from sandbox.server import SANDBOX, Sandbox, build_app, start


class BackgroundSandbox:
    """A sandbox serving `dataset` until `stop()` (or the end of a `with` block).

    >>> with BackgroundSandbox(dataset, latency_ms=20) as lms:
    ...     EdxApi({"access_token": "at-alice-0"}, base_url=lms.url)

    Keyword settings are those of `build_app` (throttles="off", rates={...}, ...).
    """

    def __init__(
        self,
        dataset: dict,
        latency_ms: float = 0,
        seed: int | None = None,
        port: int = 0,
        **settings,
    ) -> None:
        self._options = (dataset, latency_ms, seed, port)
        self._settings = settings
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self.url = ""
        self.sandbox: Sandbox | None = None

    def __enter__(self) -> "BackgroundSandbox":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> "BackgroundSandbox":
        """Start serving; returns once the port is bound (or raises what went wrong)."""
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            self._thread = None
            raise self._failure
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join()
        self._thread = None

    async def _serve(self) -> None:
        dataset, latency_ms, seed, port = self._options
        try:
            app = build_app(dataset, latency_ms=latency_ms, seed=seed, **self._settings)
            runner, self.url = await start(app, "127.0.0.1", port)
        except BaseException as failure:  # handed to the starting thread
            self._failure = failure
            self._ready.set()
            return
        self.sandbox = app[SANDBOX]
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()
