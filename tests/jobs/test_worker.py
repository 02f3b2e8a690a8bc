"""``sarcube-worker``: a burst of a job into the ARD store, its metrics in the job record.

References: the lazy engine reading the same windows on an ARD store of its own (bytes equal),
the products computed directly from the cube without chunks (float32 rounding), the chunk
objects actually found in the store (count and sizes) and the grid arithmetic of the job.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from cube.config import make_engine
from cube.isce2 import NO_ISCE2, isce2_available
from cube.jobs import make_job_record, make_job_store
from cube.jobs._run import job_settings, run_burst
from cube.jobs._worker import main
from cube.materialize import ArdEngine, Tally
from cube.products import ArdArray, BurstStack
from cube.storage import open_store
from tests.jobs.conftest import (
    BACKSCATTER_WINDOW,
    COHERENCE_WINDOW,
    expected_chunks_per_burst,
    local_chunks,
    make_spec,
    read_job_windows,
    reference_reads,
    upload_cube,
    worker_env,
)

WORKER = Path(sys.executable).parent / "sarcube-worker"
RTOL = 1e-4  # chunked vs whole-window computation: float32 rounding only


@pytest.fixture
def clean_env(monkeypatch):
    """No SARCUBE_* or array-index variables from the test run's own environment."""
    for name in list(os.environ):
        if name.startswith("SARCUBE_") or name in ("AWS_BATCH_JOB_ARRAY_INDEX", "CLOUD_RUN_TASK_INDEX"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def job_file(cube4, bursts4, tmp_path) -> Path:
    """A job file over the local cube, ARD into tmp_path/ard."""
    path = tmp_path / "job.json"
    path.write_text(make_spec(str(cube4), str(tmp_path / "ard"), bursts4).model_dump_json())
    return path


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _direct(cube_dir: Path, burst_id: str, product: str, dates: tuple[str, ...], window) -> np.ndarray:
    r0, r1, c0, c1 = window
    return BurstStack(open_store(str(cube_dir)), burst_id).compute(product, dates, (slice(r0, r1), slice(c0, c1)))


@pytest.mark.s3
def test_worker_process_fills_the_ard_store_on_s3(cube4, bursts4, s3_server, tmp_path):
    """The installed console script, a job file on S3, cube and ARD on SeaweedFS, metrics in SQLite."""
    import s3fs

    opts = s3_server["storage_options"]
    fs = s3fs.S3FileSystem(**opts)
    prefix = f"cubes/worker-{uuid.uuid4().hex[:8]}"
    upload_cube(fs, cube4, f"{prefix}/cube")
    assert fs.exists(f"{prefix}/cube/cube.json")
    public = {"client_kwargs": opts["client_kwargs"]}  # credentials come from the environment
    spec = make_spec(f"s3://{prefix}/cube", f"s3://{prefix}/ard", bursts4, public)
    job_url = f"s3://{prefix}/jobs/j1/job.json"
    fs.pipe(job_url[5:], spec.model_dump_json().encode())
    db = tmp_path / "jobs.sqlite"
    make_job_store(db).create(make_job_record({"test": True}, total=4, job_id="j1"))
    burst = bursts4[2]

    env = worker_env(**s3_server["env"], SARCUBE_BURST_ID=burst)
    run = subprocess.run([str(WORKER), "--job", job_url, "--burst-index", "2", "--job-id", "j1",
                          "--jobs-url", str(db), "--progress"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    (out,) = _lines(run.stdout)
    assert (out["job_id"], out["index"], out["burst_id"], out["polarization"]) == ("j1", 2, burst, "VV")
    assert "100%" in run.stderr and "chunk" in run.stderr  # the tqdm bar

    # Metrics against what is in the bucket and the grid arithmetic.
    objects = {k: v["size"] for k, v in fs.find(f"{prefix}/ard", detail=True).items() if "/c/" in k}
    assert objects and all(f"/{burst}/" in k for k in objects)
    m = out["metrics"]
    assert m["chunks_computed"] == len(objects) == expected_chunks_per_burst(cube4, burst) == 5
    assert m["bytes_written"] == sum(objects.values())
    assert m["wall_s"] > 0 and 0 < m["cpu_s"] < 10 * m["wall_s"] and m["bytes_read"] > 0
    record = make_job_store(db).get("j1")
    assert record.metrics[f"{burst}_vv"].model_dump() == m
    assert record.progress.done == 1 and record.progress.total == 4

    # Values: every chunk is read back (none recomputed) and equals the lazy engine's own.
    engine = ArdEngine(open_store(f"s3://{prefix}/cube", opts), open_store(f"s3://{prefix}/ard", opts))
    tally = Tally()
    got = read_job_windows(engine, burst, tally)
    assert tally.chunks_computed == 0 and tally.hits > 0
    ref = reference_reads(cube4, tmp_path / "ref-ard", burst)
    assert got.keys() == ref.keys() and len(got) == 3
    for key, value in got.items():
        # another process: the same kernels, float32 rounding may differ in the last bit
        np.testing.assert_allclose(value, ref[key], rtol=1e-6, atol=0, err_msg=str(key))
        product, dates = key
        window = BACKSCATTER_WINDOW if product == "backscatter" else COHERENCE_WINDOW
        direct = _direct(cube4, burst, product, dates, window)
        assert np.isfinite(direct).mean() > 0.5
        np.testing.assert_allclose(value, direct, rtol=RTOL, atol=1e-6, err_msg=str(key))


def test_whole_job_in_turn_records_each_burst(cube4, bursts4, job_file, tmp_path, clean_env, capsys):
    """No burst index: every burst runs; each one's metrics match the chunk files it wrote."""
    db = tmp_path / "jobs.sqlite"
    make_job_store(db).create(make_job_record({}, total=4, job_id="all"))
    assert main(["--job", str(job_file), "--job-id", "all", "--jobs-url", str(db)]) == 0
    lines = _lines(capsys.readouterr().out)
    assert [(o["index"], o["burst_id"]) for o in lines] == list(enumerate(bursts4))
    files = local_chunks(tmp_path / "ard")
    record = make_job_store(db).get("all")
    assert record.progress.done == 4
    for o in lines:
        burst = o["burst_id"]
        mine = {k: v for k, v in files.items() if k.startswith(f"{burst}/")}
        assert o["metrics"]["chunks_computed"] == len(mine) == expected_chunks_per_burst(cube4, burst)
        assert o["metrics"]["bytes_written"] == sum(len(v) for v in mine.values())
        assert record.metrics[f"{burst}_vv"].model_dump() == o["metrics"]
    assert len(files) == sum(o["metrics"]["chunks_computed"] for o in lines)


@pytest.mark.parametrize(("env", "index"), [
    ({"CLOUD_RUN_TASK_INDEX": "1"}, 1),
    ({"AWS_BATCH_JOB_ARRAY_INDEX": "3"}, 3),
    ({"AWS_BATCH_JOB_ARRAY_INDEX": "3", "SARCUBE_BURST_INDEX": "0"}, 0),
])
def test_burst_index_from_the_platform(bursts4, job_file, tmp_path, clean_env, capsys, env, index):
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert main(["--job", str(job_file)]) == 0
    (out,) = _lines(capsys.readouterr().out)
    assert (out["index"], out["burst_id"]) == (index, bursts4[index])
    assert {k.split("/")[0] for k in local_chunks(tmp_path / "ard")} == {bursts4[index]}


def test_job_as_flags_and_a_rerun(cube4, bursts4, tmp_path, clean_env, capsys):
    """One product as flags; a rerun computes nothing and does not count the burst twice."""
    burst = bursts4[0]
    date = sorted(BurstStack(open_store(str(cube4)), burst).dates)[1]
    db = tmp_path / "jobs.sqlite"
    make_job_store(db).create(make_job_record({}, total=1, job_id="flags"))
    clean_env.setenv("SARCUBE_CUBE_URL", str(cube4))
    argv = ["--ard-url", str(tmp_path / "ard"), "--burst-id", burst, "--product", "backscatter",
            "--dates", date, "--window", ",".join(map(str, BACKSCATTER_WINDOW)),
            "--job-id", "flags", "--jobs-url", str(db)]
    assert main(argv) == 0
    (first,) = _lines(capsys.readouterr().out)
    assert first["metrics"]["chunks_computed"] == 2  # the backscatter chunk and its CSLC chunk
    assert main(argv) == 0
    (second,) = _lines(capsys.readouterr().out)
    assert second["metrics"]["chunks_computed"] == 0 and second["metrics"]["bytes_written"] == 0
    assert make_job_store(db).get("flags").progress.done == 1
    got = ArdEngine(open_store(str(cube4)), open_store(str(tmp_path / "ard"))).read(
        ArdArray(burst, "VV", _variant("backscatter"), (date,)), _window(BACKSCATTER_WINDOW))
    np.testing.assert_allclose(got, _direct(cube4, burst, "backscatter", (date,), BACKSCATTER_WINDOW),
                               rtol=RTOL, atol=1e-6)


def _variant(product: str):
    from cube.products import Variant

    return Variant.of(product)


def _window(w):
    return slice(w[0], w[1]), slice(w[2], w[3])


def test_bytes_read_counts_each_slc_read_once(cube4, bursts4, tmp_path, clean_env, monkeypatch):
    """The job's bytes_read is the stored size of every SLC window the stack handed out (int16 re
    and im: 4 bytes a pixel), counted once (CSLC chunks computed as other products' inputs included)."""
    read = []
    original = BurstStack.read_slc

    def spy(self, *args):
        pixels = original(self, *args)
        read.append(pixels.size * 4)
        return pixels

    monkeypatch.setattr(BurstStack, "read_slc", spy)
    spec = make_spec(str(cube4), str(tmp_path / "ard"), bursts4[:1])
    metrics = run_burst(spec, 0, engine=make_engine(job_settings(spec)))
    assert read and metrics.bytes_read == sum(read)


# ------------------------------------------------------------------------------------ bad input


def _bad_cases(cube4: Path, bursts4: list[str], job_file: Path, tmp_path: Path):
    db = tmp_path / "jobs.sqlite"
    make_job_store(db)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"cube_url": 1')
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"cube_url": str(cube4), "bursts": [
        {"burst_id": bursts4[0], "products": [{"product": "nope"}]}]}))
    flags = ["--cube-url", str(cube4), "--burst-id", bursts4[0], "--product", "backscatter"]
    return [
        ([], {}, "give --job <file>, or the job as flags: --cube-url, --burst-id, --product missing"),
        (["--job", str(tmp_path / "missing.json")], {}, "missing.json does not exist"),
        (["--job", str(bad_json)], {}, "is not a valid job spec"),
        (["--job", str(unknown)], {}, "unknown product 'nope'"),
        (["--job", str(job_file), "--burst-index", "7"], {}, "burst index 7 is outside the job's 4 burst(s)"),
        (["--job", str(job_file), "--burst-index", "0"], {"SARCUBE_BURST_ID": bursts4[1]},
         "the job file and the caller disagree"),
        (["--job", str(job_file), "--burst-id", "t001_000001_iw1"], {}, "burst t001_000001_iw1 is not in the job"),
        (["--job", str(job_file), "--job-id", "x"], {}, "no job store to record it in"),
        (["--job", str(job_file), "--job-id", "ghost", "--jobs-url", str(db)], {}, "job 'ghost' not found"),
        (["--job", str(job_file), "--jobs-url", str(db)], {}, "--jobs-url needs --job-id"),
        (["--job", str(job_file), "--product", "backscatter"], {}, "not both (--product)"),
        (["--job", str(job_file)], {"SARCUBE_BURST_INDEX": "x"}, "SARCUBE_BURST_INDEX"),
        ([*flags, "--window", "1,2"], {}, "--window '1,2' has 2 numbers; give 4"),
        ([*flags, "--options", "[1]"], {}, "--options must be a JSON object"),
        ([*flags, "--options", '{"multilook": [0, 1]}'], {}, "backscatter options"),
        ([*flags, "--pairs", "a-b"], {}, "REFERENCE:SECONDARY"),
        ([*flags, "--engine", "isce2"], {}, "an isce2 job computes products from the ISCE2 CSLC" if isce2_available() else NO_ISCE2),
        ([*flags, "--log-level", "LOUD"], {}, "log level 'LOUD'"),
    ]


def test_bad_input_exits_2_with_a_clear_message(cube4, bursts4, job_file, tmp_path, clean_env, capsys):
    for argv, env, message in _bad_cases(cube4, bursts4, job_file, tmp_path):
        with clean_env.context() as mp:
            for name, value in env.items():
                mp.setenv(name, value)
            code = main(argv)
        captured = capsys.readouterr()
        assert code == 2, (argv, captured.err)
        assert captured.err.startswith("sarcube-worker: error: ") and message in captured.err, (argv, captured.err)
        assert captured.out == ""
    assert not (tmp_path / "ard").exists()  # nothing ran


def test_a_date_not_in_the_cube_fails_and_is_recorded(cube4, bursts4, tmp_path, clean_env, capsys):
    spec = make_spec(str(cube4), str(tmp_path / "ard"), bursts4[:1])
    spec.bursts[0].products[0].dates = ["20990101T000000.000000"]
    job = tmp_path / "job.json"
    job.write_text(spec.model_dump_json())
    db = tmp_path / "jobs.sqlite"
    make_job_store(db).create(make_job_record({}, total=1, job_id="late"))
    assert main(["--job", str(job), "--job-id", "late", "--jobs-url", str(db)]) == 2
    err = capsys.readouterr().err
    assert "20990101T000000.000000" in err
    record = make_job_store(db).get("late")
    assert record.message.startswith(f"burst {bursts4[0]} (index 0) failed:") and "20990101" in record.message
    assert record.progress.done == 0 and record.metrics == {}


def test_help_and_argparse_errors(clean_env, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--burst-index" in out and "CLOUD_RUN_TASK_INDEX" in out
    with pytest.raises(SystemExit) as exit_:
        main(["--burst-index", "one"])
    assert exit_.value.code == 2 and "--burst-index: invalid int value" in capsys.readouterr().err


def test_a_burst_makes_each_pair_from_the_cslc_it_just_computed(tiny_cube, tmp_path):
    """run_burst orders a burst's arrays in time (a date's CSLC, then the pairs it is the secondary
    of), so every pair product takes both CSLCs from the engine's memory: none is read back."""
    from cube.jobs import JobSpec
    from cube.storage import list_burst_groups

    burst = list_burst_groups(tiny_cube)[0][0]
    dates = BurstStack(tiny_cube, burst).dates
    pairs = [(dates[1], dates[2]), (dates[0], dates[2]), (dates[0], dates[1])]
    spec = JobSpec(cube_url=tiny_cube.url, ard_url=str(tmp_path / "ard"), bursts=[{"burst_id": burst, "products": [
        {"product": "interferogram", "pairs": pairs},
        {"product": "coherence", "pairs": pairs},
        {"product": "cslc", "dates": dates}]}])
    engine = ArdEngine(tiny_cube, open_store(str(tmp_path / "ard")))
    metrics = run_burst(spec, 0, engine=engine)
    assert engine.cslc_cache.misses == 0 and engine.cslc_cache.hits == 2 * 2 * len(pairs)
    assert engine.totals.hits == 0  # no stored chunk read back
    assert metrics.chunks_computed == engine.totals.chunks_computed > 0


@pytest.mark.parametrize("setting", [None, "1"])
def test_the_worker_sets_its_numba_threads(bursts4, job_file, clean_env, capsys, setting):
    """SARCUBE_NUMBA_THREADS, else the CPUs the process may use (affinity and cgroup quota)."""
    import numba

    before = numba.get_num_threads()
    clean_env.setenv("SARCUBE_BURST_INDEX", "0")
    if setting:
        clean_env.setenv("SARCUBE_NUMBA_THREADS", setting)
    try:
        assert main(["--job", str(job_file)]) == 0
        want = int(setting) if setting else len(os.sched_getaffinity(0))
        assert numba.get_num_threads() == min(want, numba.config.NUMBA_NUM_THREADS)
    finally:
        numba.set_num_threads(before)
