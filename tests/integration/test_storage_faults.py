"""The object store goes down: the API answers 503 + Retry-After within seconds, the CLI prints
one line and exits 3, and the API recovers when the store is back. A dedicated SeaweedFS,
stopped and restarted on the same data directory and ports."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import httpx
import pytest
import s3fs
from _live import serve
from _seaweed import seaweed_s3, storage_options

from cube.api import create_app
from cube.ingest import ingest
from cube.products import set_cube_dem
from cube.storage import list_burst_groups, open_store

#: The longest a request may take to say the store is down, s (botocore's default: 8-30 s).
FAST_S = 6.0


@pytest.fixture
def down_and_up(tmp_path, tiny_stack):
    """A cube on a SeaweedFS of its own, and ``switch(up: bool)`` to stop and restart it."""
    work = tmp_path / "weed"
    work.mkdir()
    stack = contextlib.ExitStack()
    server = stack.enter_context(seaweed_s3(work))
    options = storage_options(server)
    s3fs.S3FileSystem(**options).mkdir("cubes")
    cube = open_store("s3://cubes/c", options)
    ingest([str(tiny_stack.safe_paths[0])], cube, progress=False)
    set_cube_dem(cube, str(tiny_stack.truth_dir / "dem.tif"))

    def switch(up: bool) -> None:
        nonlocal stack
        stack.close()
        stack = contextlib.ExitStack()
        if up:
            stack.enter_context(seaweed_s3(work, ports=server["ports"]))

    yield options, switch
    stack.close()


def test_storage_down_is_503_retry_after_and_cli_exit_3_then_recovers(down_and_up, tmp_path, tiny_stack):
    options, switch = down_and_up
    app = create_app(cube_url="s3://cubes/c", storage_options=options, jobs_url=str(tmp_path / "jobs.sqlite"),
                     jobs_enabled=False, allow_anonymous=True)
    burst_id = list_burst_groups(open_store("s3://cubes/c", options))[0][0]
    chunk = f"/zarr/{burst_id}/backscatter/backscatter/c/0/0/0"
    with serve(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        first = client.get(chunk)
        assert first.status_code == 200, first.text

        switch(up=False)
        for key in (chunk, f"/zarr/{burst_id}/backscatter/backscatter/c/0/1/0"):  # present, then absent
            t0 = time.monotonic()
            r = client.get(key)
            elapsed = time.monotonic() - t0
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "storage_unavailable" and "s3://cubes/c" in r.json()["detail"]
            assert int(r.headers["Retry-After"]) > 0
            assert elapsed < FAST_S, f"{key}: {elapsed:.1f} s to answer 503"
            print(f"storage down: {key} answered 503 in {elapsed:.2f} s")
        _cli_exits_3_with_one_line(options, tiny_stack.safe_paths[1])

        switch(up=True)
        deadline = time.monotonic() + 60
        while (r := client.get(chunk)).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert r.status_code == 200, r.text
        print(f"storage back: 200 after {time.monotonic() - deadline + 60:.1f} s")
        assert r.content == first.content  # the same stored chunk, not recomputed
        assert r.headers["X-Sarcube-Chunks-Computed"] == "0"


def _cli_exits_3_with_one_line(options: dict, source) -> None:
    """``sarcube ingest`` into the unreachable store: one line naming it, exit 3 (retry)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ENDPOINT_URL": options["client_kwargs"]["endpoint_url"], "AWS_ACCESS_KEY_ID": options["key"],
                "AWS_SECRET_ACCESS_KEY": options["secret"], "AWS_REGION": "us-east-1"})
    done = subprocess.run([sys.executable, "-m", "cube.cli", "ingest", "--quiet", str(source), "--cube", "s3://cubes/c"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sarcube: error: "), done.stderr
    assert "s3://cubes/c" in lines[0] and "retry" in lines[0]
