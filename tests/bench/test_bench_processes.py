"""The benchmark's reading of a worker's process tree from /proc."""

import os
import signal
import subprocess
import sys
import time

from bench.processes import PeakRss, process_tree

# A parent that forks a child holding 80 MB, as a prefork worker holds its pool processes.
_PARENT_AND_CHILD = """
import os, sys, time
if os.fork() == 0:
    held = bytearray(80 * 2**20)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    time.sleep(30)
    os._exit(0)
time.sleep(30)
"""


def _start_parent_and_child():
    process = subprocess.Popen(
        [sys.executable, "-c", _PARENT_AND_CHILD],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout.readline() == "ready\n"
    return process


def test_the_tree_of_a_process_holds_its_children():
    process = _start_parent_and_child()
    try:
        tree = process_tree(process.pid)
    finally:
        _kill_group(process)

    assert tree[0] == process.pid
    assert len(tree) == 2


def test_the_peak_rss_counts_what_the_children_hold():
    process = _start_parent_and_child()
    try:
        sampler = PeakRss(process.pid, interval=0.05)
        time.sleep(0.3)
        peak = sampler.stop()
    finally:
        _kill_group(process)

    assert peak > 80 * 2**20


def _kill_group(process):
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
