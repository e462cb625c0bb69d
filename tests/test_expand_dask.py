"""augkit expand on dask: process clusters, a worker killed mid-run, SIGKILL and rerun, stale
writers of a killed run. Loopback only, bounded by timeouts."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import pytest
from test_expand import PIPE, SYNC, leftovers, make_source, manifest, tree

from augkit.errors import InputError
from augkit.expansion import expand
from augkit.expansion.run import make_tasks
from augkit.expansion.state import RunLock

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                       worker_dashboard_address="127.0.0.1:0",
                                       silence_logs=logging.ERROR)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close(timeout=20)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    src = make_source(root / "src", {"a": 12, "b": 12, "c": 12}, size=32)
    reference = root / "reference"
    expand(src, reference, pipeline=PIPE, copies=3, **SYNC)
    return src, tree(reference)


def test_process_cluster_writes_the_same_bytes(client, data, tmp_path):
    src, reference = data
    expand(src, tmp_path / "cluster", pipeline=PIPE, copies=3, scheduler=client, batch_size=3)
    assert tree(tmp_path / "cluster") == reference
    own = expand(src, tmp_path / "own", pipeline=PIPE, copies=3, workers=2)  # default: processes
    assert own.ok and tree(tmp_path / "own") == reference


def test_a_worker_killed_mid_run_changes_nothing(client, data, tmp_path):
    src, reference = data
    pids = client.run(os.getpid)  # {worker address: process id}
    killed: list[str] = []

    def progress(p):
        if not killed and p.written >= 6:
            victim = sorted(pids)[0]
            killed.append(victim)
            os.kill(pids[victim], signal.SIGKILL)  # a worker process this test's cluster started

    out = tmp_path / "out"
    summary = expand(src, out, pipeline=PIPE, copies=3, scheduler=client, batch_size=2,
                     progress=progress)
    assert killed, "no worker was killed"
    assert summary.ok and summary.written == 144
    assert tree(out) == reference
    assert leftovers(out) == []
    deadline = time.monotonic() + 20
    while killed[0] in client.scheduler_info()["workers"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert killed[0] not in client.scheduler_info()["workers"]


def test_sigkill_then_rerun_completes_with_identical_files(tmp_path):
    src = make_source(tmp_path / "src", {"a": 40, "b": 40}, size=64)
    spec = tmp_path / "p.yaml"
    PIPE.save(spec)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "augkit.cli", "expand", str(src), str(out), "-p", str(spec),
               "--copies", "8", "--workers", "2", "--batch-size", "4", "--quiet"]
    run = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and run.poll() is None:
            if len(list(out.glob("*/*.png"))) >= 30:
                break
            time.sleep(0.005)
        assert run.poll() is None, "the run ended before it could be killed"
        os.kill(run.pid, signal.SIGKILL)  # the coordinator only: its workers become stale
        run.wait(timeout=10)
        written_before = len(list(out.glob("*/*.png")))
        assert 0 < written_before < 720
        # Rerun at once, while the stale workers may still be finishing their batch.
        rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert "already present" in rerun.stdout
    finally:
        try:
            os.killpg(run.pid, signal.SIGKILL)  # the killed run's own process group
        except ProcessLookupError:
            pass
    assert leftovers(out) == []
    clean = tmp_path / "clean"
    expand(src, clean, pipeline=PIPE, copies=8, **SYNC)
    assert tree(out) == tree(clean)
    assert {r["status"] for r in manifest(out)} == {"ok"}


def test_ctrl_c_stops_cleanly_and_a_rerun_finishes(tmp_path):
    src = make_source(tmp_path / "src", {"a": 30, "b": 30}, size=64)
    spec = tmp_path / "p.yaml"
    PIPE.save(spec)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "augkit.cli", "expand", str(src), str(out), "-p", str(spec),
               "--copies", "10", "--workers", "2", "--batch-size", "4"]
    # SIGINT as in a terminal: a shell that starts a job in the background (`cmd &`, as some CI
    # runners do) passes SIGINT down ignored, and Python then keeps ignoring it
    run = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and run.poll() is None:
            if len(list(out.glob("*/*.png"))) >= 20:
                break
            time.sleep(0.005)
        assert run.poll() is None, "the run ended before it could be interrupted"
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = run.communicate(timeout=60)
    finally:
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert run.returncode == 130
    assert "interrupted; rerun the same command" in err and "Traceback" not in err
    assert leftovers(out) == []
    statuses = [r["status"] for r in manifest(out)]
    assert statuses.count("pending") > 0 and statuses.count("ok") > 0
    rerun = subprocess.run(command + ["--quiet"], capture_output=True, text=True, timeout=120,
                           check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{statuses.count('ok')} already present" in rerun.stdout
    clean = tmp_path / "clean"
    expand(src, clean, pipeline=PIPE, copies=10, **SYNC)
    assert tree(out) == tree(clean)


_STALE_WRITER = """
import os, sys, time
from augkit.expansion.worker import TMP_PREFIX, read_generation, write_atomic, writer_fence
out, name = sys.argv[1], sys.argv[2]
generation = read_generation(out)
with writer_fence(out, generation) as current:
    assert current
    tmp = os.path.join(out, "a", TMP_PREFIX + "stale." + name)
    open(tmp, "wb").write(b"half a file")  # a writer of the killed run, mid-file
    print("inside", flush=True)
    time.sleep(1.5)
with writer_fence(out, generation) as current:  # its next batch
    print("next batch allowed:", current, flush=True)
"""


def test_stale_writer_of_a_killed_run_is_waited_for_and_fenced(tmp_path):
    src = make_source(tmp_path / "src", {"a": 3})
    out = tmp_path / "out"
    expand(src, out, pipeline=PIPE, copies=1, **SYNC)
    (out / "a" / "img 1_c1.png").unlink()
    (out / ".augkit-expand.gen").write_text("killed-run")  # as a SIGKILLed run leaves it
    stale = subprocess.Popen([sys.executable, "-c", _STALE_WRITER, str(out), "img 1_c1.png"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert stale.stdout.readline().strip() == "inside"
        started = time.monotonic()
        summary = expand(src, out, pipeline=PIPE, copies=1, **SYNC)
        waited = time.monotonic() - started
        rest, _ = stale.communicate(timeout=30)
    finally:
        stale.kill()
    assert waited > 0.5  # the rerun waited for the stale writer to leave its batch
    assert rest.strip() == "next batch allowed: False"
    assert summary.written == 1 and summary.ok
    assert leftovers(out) == []


def test_two_runs_into_one_folder_at_once_are_refused(tmp_path):
    src = make_source(tmp_path / "src", {"a": 2})
    out = tmp_path / "out"
    expand(src, out, pipeline=PIPE, copies=1, **SYNC)
    with RunLock(str(out)), pytest.raises(InputError, match="another augkit expand is writing"):
        expand(src, out, pipeline=PIPE, copies=1, **SYNC)


def test_tasks_keep_the_copies_of_an_image_together():
    class It:
        def __init__(self, index):
            self.index = index

    items = [It(i) for i in range(5)]
    rows = [(i * 3 + k, items[i], k, f"o{i}{k}") for i in range(5) for k in range(3)]
    tasks = list(make_tasks(iter(rows), batch=4, shard_size=None))
    assert [len(t.rows) for t in tasks] == [6, 6, 3]
    assert [r for t in tasks for r in t.rows] == rows
    shards = list(make_tasks(iter(rows), batch=4, shard_size=4))
    assert [t.shard for t in shards] == [0, 1, 2, 3] and len(shards[0].rows) == 4
