"""``sarcube jobs submit`` and ``sarcube jobs watch`` against a real server (uvicorn on loopback,
the local executor), and the progress ``GET /jobs/{id}`` reports."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from cube.cli import main
from cube.format import CUBE_DOC
from cube.jobs import Progress, make_job_record
from cube.products import BurstStack
from cube.storage import list_burst_groups
from tests.integration._users import KEYS, bearer, live


@pytest.fixture(scope="module")
def job_file(tiny_cube, tmp_path_factory):
    """A job file as sarcube-worker --job reads it: backscatter of one date, a 16 x 16 window."""
    burst_id, pol = list_burst_groups(tiny_cube)[0]
    date = sorted(BurstStack(tiny_cube, burst_id, pol).dates)[0]
    path = tmp_path_factory.mktemp("jobfile") / "job.yaml"
    path.write_text(yaml.safe_dump({
        "cube_url": str(tiny_cube.url),
        "bursts": [{"burst_id": burst_id, "products": [
            {"product": "backscatter", "dates": [date], "window": [0, 16, 0, 16]}]}],
    }))
    return path


def test_progress_reports_the_time_left_from_the_fraction_done():
    running = Progress(done=1, total=4).report(10.0, "running")
    assert running == {"done": 1, "total": 4, "fraction": 0.25, "elapsed_s": 10.0, "remaining_s": 30.0}
    assert Progress(done=0, total=4).report(10.0, "running")["remaining_s"] is None
    assert Progress(done=4, total=4).report(12.0, "succeeded")["remaining_s"] == 0.0
    assert Progress(done=1, total=4).report(12.0, "failed")["remaining_s"] is None
    record = make_job_record({}, total=3)
    later = record.created + timedelta(seconds=90)
    assert record.progress_report(later)["elapsed_s"] == 90.0
    ended = record.model_copy(update={"state": "succeeded", "updated": record.created + timedelta(seconds=5),
                                      "progress": Progress(done=3, total=3)})
    assert ended.progress_report(datetime.now(UTC) + timedelta(days=1))["elapsed_s"] == 5.0


def test_submit_then_watch_until_the_job_succeeds(tmp_path, tiny_cube, job_file, capsys):
    with live(tmp_path, str(tiny_cube.url)) as s:
        key = ["--server", s.url, "--api-key", KEYS["alice"]]
        assert main(["jobs", "submit", str(job_file), *key]) == 0
        out, err = capsys.readouterr()
        job_id, url, state = out.split()
        assert url == f"{s.url}/jobs/{job_id}" and state in ("(queued)", "(running)")
        assert f"sarcube jobs watch {job_id} --server {s.url}" in err
        assert main(["jobs", "watch", job_id, *key, "--interval-s", "0.2"]) == 0
        out, err = capsys.readouterr()
        assert out.strip().startswith(f"job {job_id} succeeded")
        assert "1/1 bursts" in err  # the progress bar's last state
        job = s.http.get(f"/jobs/{job_id}", headers=bearer("alice")).json()
        progress = job["progress"]
        assert (progress["done"], progress["total"], progress["fraction"]) == (1, 1, 1.0)
        assert progress["remaining_s"] == 0.0 and progress["elapsed_s"] > 0
        # the same job file again is the same job (one id per owner and request)
        assert main(["jobs", "submit", str(job_file), *key]) == 0
        assert capsys.readouterr().out.split()[0] == job_id
        # a job that fails (the cube's DEM record removed for a moment): exit 4, its message says why
        doc = tiny_cube.read_json(CUBE_DOC)
        spec = yaml.safe_load(job_file.read_text())
        product = spec["bursts"][0]["products"][0]
        product["dates"] = [BurstStack(tiny_cube, spec["bursts"][0]["burst_id"]).dates[1]]
        failing = tmp_path / "fails.yaml"
        failing.write_text(yaml.safe_dump(spec))
        tiny_cube.write_json(CUBE_DOC, {k: v for k, v in doc.items() if k != "dem"})
        try:
            assert main(["jobs", "submit", str(failing), *key]) == 0
            failed_id = capsys.readouterr().out.split()[0]
            assert main(["jobs", "watch", failed_id, *key, "--interval-s", "0.2", "--quiet"]) == 4
        finally:
            tiny_cube.write_json(CUBE_DOC, doc)
        out = capsys.readouterr().out
        assert out.startswith(f"job {failed_id} failed:") and "sarcube dem CUBE DEM_URL" in out


def test_jobs_errors_say_what_to_do(tmp_path, tiny_cube, job_file, capsys):
    with live(tmp_path, str(tiny_cube.url)) as s:
        assert main(["jobs", "submit", str(job_file), "--server", s.url]) == 2
        assert "--api-key KEY or $SARCUBE_API_KEY" in capsys.readouterr().err
        assert main(["jobs", "watch", "f" * 32, "--server", s.url, "--api-key", KEYS["bob"]]) == 2
        assert "not found; list your jobs with GET /jobs" in capsys.readouterr().err
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["jobs", "watch", "x", "--server", f"http://127.0.0.1:{port}"]) == 3
    assert "start the API with `sarcube serve --cube CUBE`" in capsys.readouterr().err
    assert main(["jobs", "submit", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml does not exist" in capsys.readouterr().err
