"""Running the tasks: in this process, on a local dask cluster, or on an existing one.

Tasks are submitted in plan order with a bounded number in flight (about three per worker
thread), so the scheduler and this process hold little however big the job is. When a worker
dies, dask reruns its tasks elsewhere; a task that keeps killing workers (a file that crashes the
decoder) is split into one task per source image, so only that image's rows fail.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from augkit.errors import InputError, SpecError
from augkit.expansion.worker import Task, TaskResult, TaskSpec, run_task

#: Schedulers :func:`augkit.expansion` accepts by name (besides an address or a ``Client``).
LOCAL_SCHEDULERS = ("processes", "threads", "synchronous")


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def make_tasks(pending: Iterable[tuple[int, Any, int, str]], *, batch: int,
               shard_size: int | None) -> Iterator[Task]:
    """Cut pending rows ``(row, item, copy, output)`` into tasks.

    Shard formats: one task per shard. Image formats: about ``batch`` rows per task, never
    splitting the copies of one source image (it is decoded once per task).
    """
    rows: list = []
    key = 0
    for row in pending:
        if rows:
            if shard_size is not None:
                boundary = row[0] // shard_size != rows[0][0] // shard_size
            else:
                boundary = len(rows) >= batch and row[1].index != rows[-1][1].index
            if boundary:
                yield _task(key, rows, shard_size)
                key, rows = key + 1, []
        rows.append(row)
    if rows:
        yield _task(key, rows, shard_size)


def _task(key: int, rows: list, shard_size: int | None) -> Task:
    shard = rows[0][0] // shard_size if shard_size is not None else -1
    return Task(key, tuple(rows), shard)


def _split(task: Task, next_key: Callable[[], int]) -> list[Task]:
    groups: dict[int, list] = {}
    for row in task.rows:
        groups.setdefault(row[1].index, []).append(row)
    return [Task(next_key(), tuple(rows), task.shard) for rows in groups.values()]


class Executor:
    """Runs tasks and calls ``on_result`` with each :class:`TaskResult` as it arrives."""

    def __init__(self, scheduler: Any, workers: int | None) -> None:
        self.client: Any = None
        self.cluster: Any = None
        self._own_client = False
        self._workers: int | None = None
        self.kind = "synchronous"
        if scheduler == "synchronous":
            if workers not in (None, 1):
                raise SpecError(f"workers={workers!r} with scheduler='synchronous'; that scheduler "
                                "runs everything in this process: leave workers unset")
            return
        if scheduler is None or scheduler in ("processes", "threads"):
            if workers is not None and (isinstance(workers, bool)
                                        or not isinstance(workers, int) or workers < 1):
                raise SpecError(f"workers: got {workers!r}; allowed: a positive integer")
            # Started on the first task: a rerun with nothing left to do starts no cluster.
            self.kind, self._workers = scheduler or "processes", workers
        else:
            if workers is not None:
                raise SpecError(f"workers={workers!r} with scheduler={scheduler!r}; an existing "
                                "cluster has its own workers: leave workers unset")
            self._connect(scheduler)

    def _start_local(self, kind: str, workers: int | None) -> None:
        n = workers or cores()
        from distributed import Client, LocalCluster

        processes = kind == "processes"
        # Nothing listens beyond loopback: worker processes talk over 127.0.0.1, threads
        # in-process, and the HTTP endpoints (dashboard, health) are bound to 127.0.0.1 too
        # (with dashboard_address=None dask would still serve them on every interface).
        where: dict[str, Any] = {"host": "127.0.0.1"} if processes else {}
        if processes:
            where["preload"] = ["augkit.expansion._worker_setup"]
        import dask

        # dask's nanny sets MALLOC_TRIM_THRESHOLD_ for its workers, which also pins glibc's
        # mmap threshold: every image-sized buffer is then mmapped and unmapped, page fault by
        # page fault (measured: ~30 % slower per 224 px image than the same loop in one
        # process). Expansion frees what it allocates batch by batch, so keep glibc's default.
        trim = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
        try:
            with dask.config.set(trim):
                self.cluster = LocalCluster(
                    n_workers=n if processes else 1, threads_per_worker=1 if processes else n,
                    processes=processes, dashboard_address="127.0.0.1:0",
                    worker_dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL,
                    **where)
        except RuntimeError as exc:
            raise RuntimeError(
                f"the local dask workers failed to start ({exc}). Calling augkit.expand from a "
                "script? Put the call under `if __name__ == \"__main__\":` (worker processes "
                "re-import the script), or pass scheduler='threads'") from exc
        self.client = Client(self.cluster)

    def _connect(self, scheduler: Any) -> None:
        from distributed import Client

        if isinstance(scheduler, Client):
            self.client = scheduler
        elif isinstance(scheduler, str) and "://" in scheduler:
            # TLS settings (certificates) come from dask's configuration; see docs/expand.md.
            self.client = Client(scheduler, timeout="30s")
            self._own_client = True
        else:
            raise SpecError(f"scheduler: got {scheduler!r}; allowed: "
                            f"{', '.join(LOCAL_SCHEDULERS)}, an address like "
                            "'tcp://host:8786' or 'tls://host:8786', or a distributed.Client")
        self.kind = "cluster"

    @property
    def local(self) -> bool:
        return self.kind != "cluster"

    def threads(self) -> int:
        """Worker threads available (for a local cluster not started yet: those it will have)."""
        if self.client is None:
            return 1 if self.kind == "synchronous" else self._workers or cores()
        return max(1, sum(self.client.nthreads().values()))

    def check_paths(self, paths: list[str]) -> None:
        """Refuse to start if the cluster's workers cannot see ``paths`` (a shared file system)."""
        if self.local:
            return
        self.client.wait_for_workers(1, timeout=60)
        seen = self.client.run(lambda: [os.path.exists(p) for p in paths])
        blind = sorted(w for w, ok in seen.items() if not all(ok))
        if blind:
            raise InputError(f"worker(s) {', '.join(blind)} cannot see {' or '.join(paths)}; the "
                             "source and output folder must be on a file system shared by this "
                             "machine and every worker, at the same path")

    def run(self, spec: TaskSpec, tasks: Iterable[Task], on_result: Callable[[TaskResult], None],
            tick: Callable[[], None]) -> None:
        if self.kind == "synchronous":
            for task in tasks:
                on_result(run_task(spec, task))
                tick()
            return
        tasks = iter(tasks)
        first = next(tasks, None)
        if first is None:
            return
        if self.client is None:
            self._start_local(self.kind, self._workers)
        self._run_dask(spec, itertools.chain([first], tasks), on_result, tick)

    def _run_dask(self, spec: TaskSpec, tasks: Iterable[Task],
                  on_result: Callable[[TaskResult], None], tick: Callable[[], None]) -> None:
        from distributed import wait
        from distributed.scheduler import KilledWorker

        source = iter(tasks)
        queue: deque[Task] = deque()
        running: dict[Any, Task] = {}
        counter = iter(range(10**12, 2 * 10**12))
        submitted = 0
        retries: dict[int, int] = {}
        limit, checked = max(4, 3 * self.threads()), time.monotonic()
        try:
            while True:
                if not self.local and time.monotonic() - checked > 5:
                    limit, checked = max(4, 3 * self.threads()), time.monotonic()
                while len(running) < limit:
                    task = queue.popleft() if queue else next(source, None)
                    if task is None:
                        break
                    submitted += 1
                    future = self.client.submit(
                        run_task, spec, task, pure=False,
                        key=f"augkit-expand-{spec.generation[-8:]}-{submitted}")
                    running[future] = task
                if not running:
                    return
                try:
                    done = wait(list(running), timeout=0.5, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    done = set()
                for future in done:
                    task = running.pop(future)
                    if future.status == "finished":
                        on_result(future.result())
                        continue
                    exc = future.exception() if future.status == "error" else None
                    if exc is None:  # cancelled or lost with its worker: submit it again
                        retries[task.key] = retries.get(task.key, 0) + 1
                        if retries[task.key] <= 5:
                            queue.append(task)
                            continue
                        exc = RuntimeError(f"task lost {retries[task.key]} times "
                                           f"(status {future.status})")
                    if isinstance(exc, KilledWorker) and task.shard < 0 and len(
                            {row[1].index for row in task.rows}) > 1:
                        queue.extend(_split(task, lambda: next(counter)))
                    elif isinstance(exc, KilledWorker):
                        reason = ("a worker died while producing this (KilledWorker: the file may "
                                  "crash the decoder)")
                        on_result(TaskResult(task.key, [(r, "failed", reason, -1)
                                                        for r, *_ in task.rows]))
                    else:
                        raise RuntimeError(f"an expansion task failed: {exc}") from exc
                tick()
        finally:
            for future in running:
                future.cancel()

    def close(self) -> None:
        """Stop a local cluster this executor started (an existing cluster is left running)."""
        if self.cluster is not None:
            try:
                self.client.close(timeout=10)
            finally:
                self.cluster.close(timeout=10)
            self.cluster = self.client = None
        elif self.client is not None:
            if self._own_client:
                self.client.close(timeout=10)
            self.client = None
