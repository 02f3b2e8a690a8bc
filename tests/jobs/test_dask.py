"""The Dask executor on a real ``distributed.LocalCluster`` of worker processes (loopback only).

The same 4-burst job runs on the local executor (a process pool) and on Dask into two ARD
stores: the chunk objects must be the same, byte for byte, and every burst's metrics must match
the chunk files it wrote. The API's ``/jobs`` submits to a Dask cluster named by its settings.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest
from distributed import get_task_stream

from cube.api import create_app
from cube.api.jobs import GB_HOUR_USD, MIN_BILLED_S, VCPU_HOUR_USD
from cube.config import KEEP_FREED_MEMORY_ENV, Settings
from cube.errors import InputError
from cube.jobs import JobSpec, make_job_record, make_job_store
from cube.jobs._dask import DaskExecutor, make_dask_cluster
from cube.jobs._executors import make_executor
from cube.jobs._local import LocalExecutor
from cube.jobs._run import burst_stages
from cube.materialize import ArdEngine
from cube.products import BurstStack
from cube.storage import list_burst_groups, open_store
from tests._live import serve
from tests.integration._users import API_KEYS, bearer
from tests.jobs.conftest import (
    expected_chunks_per_burst,
    job_bursts,
    local_chunks,
    make_spec,
    wait_for_job,
)


@pytest.fixture(scope="module")
def dask_executor(tmp_path_factory):
    """Two single-threaded worker processes; closed with the module."""
    db = tmp_path_factory.mktemp("dask") / "jobs.sqlite"
    executor = DaskExecutor(str(db), "local://?n_workers=2&threads_per_worker=1")
    try:
        yield executor
    finally:
        executor.shutdown()


def _run_local(spec, db) -> None:
    jobs = make_job_store(db)
    record = jobs.create(make_job_record({}, total=len(spec.bursts)))
    executor = LocalExecutor(str(db), max_workers=1)
    try:
        executor.submit(spec, record.id)
        assert wait_for_job(jobs, record.id).state == "succeeded"
    finally:
        executor.shutdown()


def test_dask_fans_the_job_out_and_equals_the_local_executor(cube4, bursts4, dask_executor, tmp_path):
    workers = dask_executor.client.scheduler_info()["workers"]
    assert len(workers) == 2 and all(w["nthreads"] == 1 for w in workers.values())

    spec = make_spec(str(cube4), str(tmp_path / "ard-dask"), bursts4)
    jobs = dask_executor.jobs
    record = jobs.create(make_job_record(spec.model_dump(mode="json"), total=4))
    t0 = time.monotonic()
    with get_task_stream(client=dask_executor.client) as stream:
        dask_executor.submit(spec, record.id)
        metrics = dask_executor.wait(record.id, timeout=180)
    done = wait_for_job(jobs, record.id)
    elapsed = time.monotonic() - t0
    assert done.state == "succeeded", done.message
    assert done.progress.done == done.progress.total == 4 and len(metrics) == 4
    ran_on = {t["worker"] for t in stream.data if str(t["key"]).startswith(f"sarcube-{record.id}-")}
    assert len(ran_on) == 2, f"the 4 burst tasks ran on {ran_on}"

    _run_local(make_spec(str(cube4), str(tmp_path / "ard-local"), bursts4), tmp_path / "local.sqlite")

    on_dask, on_local = local_chunks(tmp_path / "ard-dask"), local_chunks(tmp_path / "ard-local")
    assert on_dask.keys() == on_local.keys() and len(on_dask) == 4 * expected_chunks_per_burst(cube4, bursts4[0])
    assert [k for k in on_dask if on_dask[k] != on_local[k]] == []
    for burst in bursts4:
        mine = [v for k, v in on_dask.items() if k.startswith(f"{burst}/")]
        m = done.metrics[f"{burst}_vv"]
        assert m.chunks_computed == len(mine) == expected_chunks_per_burst(cube4, burst)
        assert m.bytes_written == sum(map(len, mine))
        assert 0 < m.wall_s < elapsed and m.cpu_s > 0


def test_one_burst_runs_its_dates_then_its_pairs_on_every_worker(cube4, bursts4, dask_executor, tmp_path):
    """A one-burst job keeps both workers busy: its dates in parallel, then its pair."""
    assert dask_executor.numba_threads == max(1, (os.cpu_count() or 1) // 2)
    spec = make_spec(str(cube4), str(tmp_path / "ard"), bursts4[:1])
    stages = burst_stages(spec, 0, ArdEngine(open_store(str(cube4)), open_store(str(tmp_path / "scratch"))))
    dates = BurstStack(open_store(str(cube4)), bursts4[0]).dates
    assert [[[(p.product, p.dates, p.pairs) for p in part.bursts[0].products] for part in stage]
            for stage in stages] == [[[("backscatter", [d], None)] for d in dates],
                                     [[("coherence", None, [tuple(dates)])]]]

    record = dask_executor.jobs.create(make_job_record({}, total=1))
    with get_task_stream(client=dask_executor.client) as stream:
        dask_executor.submit(spec, record.id)
        (metrics,) = dask_executor.wait(record.id, timeout=180)
    assert wait_for_job(dask_executor.jobs, record.id).state == "succeeded"
    ran = {}
    for t in stream.data:
        if str(t["key"]).startswith(f"sarcube-{record.id}-0-"):
            (compute,) = [s for s in t["startstops"] if s["action"] == "compute"]
            ran[str(t["key"]).removeprefix(f"sarcube-{record.id}-0-")] = (t["worker"], compute["start"], compute["stop"])
    assert sorted(ran) == ["0-0", "0-1", "1-0"]
    assert ran["0-0"][0] != ran["0-1"][0], "the two dates ran on one worker"
    assert ran["1-0"][1] >= max(ran["0-0"][2], ran["0-1"][2]), "the pair started before its dates were done"
    files = local_chunks(tmp_path / "ard")
    assert metrics.chunks_computed == len(files) == expected_chunks_per_burst(cube4, bursts4[0])
    assert metrics.bytes_written == sum(map(len, files.values()))


def test_a_failing_burst_fails_the_job_and_names_it(cube4, bursts4, dask_executor, tmp_path):
    spec = make_spec(str(cube4), str(tmp_path / "ard"), bursts4[:2])
    spec.bursts[1].products[0].dates = ["20990101T000000.000000"]
    jobs = dask_executor.jobs
    record = jobs.create(make_job_record({}, total=2))
    dask_executor.submit(spec, record.id)
    done = wait_for_job(jobs, record.id)
    assert done.state == "failed"
    assert done.message.startswith(f"burst {bursts4[1]}:") and "20990101T000000.000000" in done.message
    deadline = time.monotonic() + 60  # the good burst still finishes and is recorded
    while f"{bursts4[0]}_vv" not in (record := jobs.get(record.id)).metrics:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert f"{bursts4[1]}_vv" not in record.metrics


def test_api_jobs_run_on_the_configured_dask_cluster(cube4, bursts4, dask_executor, tmp_path, monkeypatch):
    """POST /jobs over HTTP with SARCUBE_EXECUTOR=dask on a running scheduler; poll until done."""
    settings = Settings(cube_url=str(cube4), ard_url=str(tmp_path / "ard"), jobs_url=str(tmp_path / "api.sqlite"),
                        executor="dask", dask_address=dask_executor.client.scheduler.address, api_keys=API_KEYS)
    app = create_app(settings, routers=("jobs",))
    try:
        with serve(app) as url, httpx.Client(base_url=url, timeout=60, headers=bearer("alice")) as http:
            r = http.post("/jobs", json={"bursts": job_bursts(bursts4[:2])})
            assert r.status_code == 202, r.text
            location = r.headers["Location"]
            deadline = time.monotonic() + 180
            while (job := http.get(location).json())["state"] in ("queued", "running"):
                assert time.monotonic() < deadline, job
                time.sleep(0.3)
        executor = app.state._executor
        assert isinstance(executor, DaskExecutor) and executor._cluster is None  # connected, not started
    finally:
        if app.state._executor is not None:
            app.state._executor.shutdown()  # closes its client; the cluster serves on
    assert job["state"] == "succeeded", job
    assert (job["progress"]["done"], job["progress"]["total"], job["progress"]["remaining_s"]) == (2, 2, 0.0)
    walls = [max(m["wall_s"], MIN_BILLED_S) for m in job["metrics"].values()]
    rate = (settings.worker_vcpu * VCPU_HOUR_USD + settings.worker_memory_gb * GB_HOUR_USD) / 3600
    assert job["cost"]["spent_usd"] == pytest.approx(sum(walls) * rate, abs=1e-6)
    assert job["cost"]["remaining_usd"] == 0
    files = local_chunks(tmp_path / "ard")
    assert job["cost"]["chunks_computed"] == len(files) == 2 * expected_chunks_per_burst(cube4, bursts4[0])
    assert dask_executor.client.submit(sum, [1, 2]).result(timeout=30) == 3


def test_addresses(tmp_path):
    assert make_dask_cluster("tcp://127.0.0.1:8786") == ("tcp://127.0.0.1:8786", None)
    for bad, message in [("bogus://x", "use tcp://host:port"), ("local://?n_workers=two", "n_workers='two'"),
                         ("local://?threads=2", "unknown option 'threads'"),
                         ("slurm://?cores=4&gpus=1", "unknown option 'gpus'")]:
        with pytest.raises(InputError, match=message.replace("?", r"\?")):
            make_dask_cluster(bad)
    with pytest.raises(InputError, match="needs SARCUBE_STATE_MACHINE_ARN"):
        make_executor(Settings(cube_url="s3://b/cube", executor="aws", jobs_table="t"))


def test_local_workers_start_keeping_the_memory_they_free(monkeypatch):
    """A LocalCluster's worker processes start with the malloc settings, after the caller's own, and
    its scheduler sends a one-thread worker one part at a time."""
    from distributed import Client

    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")
    cluster, _ = make_dask_cluster("local://?n_workers=1")
    try:
        assert cluster.scheduler.WORKER_SATURATION == 1.0  # one part per worker thread at a time
        with Client(cluster) as client:
            (seen,) = client.run(lambda: {k: os.environ.get(k) for k in KEEP_FREED_MEMORY_ENV}).values()
    finally:
        cluster.close()
    ours = KEEP_FREED_MEMORY_ENV["GLIBC_TUNABLES"]
    assert seen == {**KEEP_FREED_MEMORY_ENV, "GLIBC_TUNABLES": f"glibc.malloc.tcache_count=0:{ours}"}


def test_slurm_address_makes_a_jobqueue_cluster():
    """dask-jobqueue's SLURMCluster from the address (no SLURM here: only its job script is read)."""
    cluster, owned = make_dask_cluster("slurm://?cores=2&memory=4GB&queue=short&walltime=00:30:00&account=geo",
                                       scheduler_options={"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"})
    try:
        assert owned is cluster
        script = cluster.job_script()
        for line in ("#SBATCH -p short", "#SBATCH -A geo", "#SBATCH --cpus-per-task=2", "#SBATCH --mem=4G",
                     "#SBATCH -t 00:30:00"):
            assert line in script.splitlines(), script
        assert f"distributed.cli.dask_worker {cluster.scheduler_address}" in script
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        for name, value in KEEP_FREED_MEMORY_ENV.items():  # the workers keep the memory they free
            assert f"export {name}='{value}'" in script.splitlines(), script
    finally:
        cluster.close()


def test_the_pair_stage_runs_consecutive_pairs_with_all_their_products_in_one_part(tiny_cube, tmp_path,
                                                                                   monkeypatch):
    """Pairs by secondary then reference date, cut into runs of even lengths; each part holds every
    pair product of its pairs (their CSLC read once per part), and together the parts hold each
    array once."""
    from cube.jobs import _run

    burst = list_burst_groups(tiny_cube)[0][0]
    dates = BurstStack(tiny_cube, burst).dates[:3]
    pairs = [(dates[1], dates[2]), (dates[0], dates[2]), (dates[0], dates[1])]
    spec = JobSpec(cube_url=tiny_cube.url, ard_url=str(tmp_path / "ard"), bursts=[{"burst_id": burst, "products": [
        {"product": "cslc", "dates": dates},
        {"product": "coherence", "pairs": pairs},
        {"product": "interferogram", "pairs": pairs[:2]}]}])
    monkeypatch.setattr(_run, "PAIRS_PER_PART", 2)
    dated, paired = burst_stages(spec, 0, ArdEngine(tiny_cube, open_store(str(tmp_path / "scratch"))))
    assert [[(p.product, p.dates) for p in part.bursts[0].products] for part in dated] == [
        [("cslc", [d])] for d in dates]
    assert [[(p.product, [tuple(x) for x in p.pairs]) for p in part.bursts[0].products] for part in paired] == [
        [("coherence", [pairs[2]])],
        [("coherence", [pairs[1], pairs[0]]), ("interferogram", [pairs[1], pairs[0]])]]

