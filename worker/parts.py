"""Training an ensemble in parts side by side, one Python thread and one intra-op thread each
(when that pays: worker/threads.py). The parts share nothing but the loss buffer, whose rows each
part writes, and the step hook, which every part calls (one at a time) so a cancel raised from it
stops every part; an error in one part stops the others at their next step and is raised."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from worker.threads import one_thread

# (step, steps) -> None; raising stops training (worker/train.py's StepHook)
Hook = Callable[[int, int], None]
# (start, stop, the part's step hook) -> the results of members start .. stop - 1, in order
PartFn = Callable[[int, int, Hook], list]

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


class _Stopped(Exception):
    """Raised in a part's step hook once another part has failed or been cancelled."""


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="resphase-part")
        return _pool


def train_in_parts(bounds: Sequence[tuple[int, int]], train_part: PartFn, on_step: Hook | None) -> list:
    """The results of every part, in member order (bounds: [start, stop) slices, in order)."""
    stop = threading.Event()
    hook_lock = threading.Lock()

    def hook(step: int, steps: int) -> None:
        if stop.is_set():
            raise _Stopped()
        if on_step is not None:
            with hook_lock:
                on_step(step, steps)

    def job(start: int, end: int) -> list:
        with one_thread():
            try:
                return train_part(start, end, hook)
            except BaseException:
                stop.set()
                raise

    futures = [_threads().submit(job, start, end) for start, end in bounds]
    results: list = []
    error: BaseException | None = None
    for future in futures:
        try:
            results += future.result()
        except _Stopped:
            pass  # another part's error (or cancel) is the one raised
        except BaseException as exc:  # the first part's error in member order
            error = error or exc
    if error is not None:
        raise error
    return results
