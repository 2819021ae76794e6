"""A sampling profiler for the benchmark's worker processes (py-spy is not installed):
every `interval` seconds, the stack of every thread, from sys._current_frames(). At the
end, for each function, the share of samples it was on a stack ("total") and on top of
one ("self"), written as JSON."""

import collections
import json
import sys
import threading
import time
from pathlib import Path


class StackSampler:
    def __init__(self, out: Path, interval: float = 0.005) -> None:
        self.out = out
        self.interval = interval
        self.samples = 0
        self.own = collections.Counter()
        self.total = collections.Counter()
        self._me = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="stack-sampler")
        self._thread.start()

    def _run(self) -> None:
        self._me = threading.get_ident()
        while not self._stopping.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident == self._me:
                    continue
                self.samples += 1
                seen = set()
                top = True
                while frame is not None:
                    code = frame.f_code
                    name = f"{code.co_filename.rsplit('site-packages/', 1)[-1]}:{code.co_name}"
                    if top:
                        self.own[name] += 1
                        top = False
                    if name not in seen:
                        self.total[name] += 1
                        seen.add(name)
                    frame = frame.f_back

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        n = max(self.samples, 1)
        self.out.write_text(
            json.dumps(
                {
                    "samples": self.samples,
                    "self": {k: round(v / n, 4) for k, v in self.own.most_common(60)},
                    "total": {k: round(v / n, 4) for k, v in self.total.most_common(120)},
                    "written": time.time(),
                },
                indent=1,
            )
        )
