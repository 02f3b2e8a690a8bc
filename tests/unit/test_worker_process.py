"""A worker process's settings: `available_cpus`, the CPUs it may use from its cgroup's quota files
(v2 and v1); `keep_freed_memory`, its freed arrays reused instead of fresh zeroed pages."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cube.config import KEEP_FREED_MEMORY_ENV, _cgroup_cpus, available_cpus

_BLAS = r"""
import os, sys
from cube.config import limit_blas_threads
before = limit_blas_threads(int(sys.argv[1]))
import numpy, scipy.linalg
after = limit_blas_threads(int(sys.argv[1]))
print(before, after, len(os.listdir("/proc/self/task")), os.environ["OPENBLAS_NUM_THREADS"])
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="OpenBLAS starts no thread of its own on one CPU")
@pytest.mark.parametrize(("given", "threads", "expected"), [(None, 1, "1"), ("2", 1, "2")])
def test_limit_blas_threads_before_numpy_loads(given, threads, expected):
    """numpy's and scipy's OpenBLAS start no threads of their own once limited to one (the process's
    threads, /proc); an OPENBLAS_NUM_THREADS of the environment wins; after numpy loads, False."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    if given:
        env["OPENBLAS_NUM_THREADS"] = given
    out = subprocess.run([sys.executable, "-c", _BLAS, str(threads)], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    tasks = 1 if expected == "1" else 1 + 2 * (int(expected) - 1)  # the main thread, then each OpenBLAS's
    assert out == ["True", "False", str(tasks), expected]


@pytest.mark.parametrize(("files", "cpus"), [
    ({"cpu.max": "100000 100000\n"}, 1.0),            # a 1-vCPU Fargate task (cgroup v2)
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu.max": "max 100000\n"}, None),              # no quota
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),  # cgroup v1
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({}, None),
])
def test_cgroup_quota(tmp_path, files, cpus):
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert _cgroup_cpus(str(tmp_path)) == cpus


def test_available_cpus_is_at_most_the_affinity():
    assert 1 <= available_cpus() <= len(os.sched_getaffinity(0))


_FAULTS = r"""
import resource, sys
import numpy as np
from cube.config import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(64 << 20, np.uint8)  # 64 MB, freed at once
before = faults()
for _ in range(5):
    np.ones(64 << 20, np.uint8)
print(faults() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings: Linux only")
def test_keep_freed_memory_reuses_freed_arrays():
    """Five 64 MB arrays allocated and freed in turn: fresh pages each time (thousands of page
    faults, every page zeroed by the kernel) unless freed memory is kept."""
    env = {k: v for k, v in os.environ.items() if k not in KEEP_FREED_MEMORY_ENV}  # (a Dask cluster sets them)

    def faults(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True,
                              env=env)
        return int(done.stdout)

    assert faults("default") > 5 * 16  # 64 MB is at least 32 huge pages or 16384 small ones, per array
    assert faults("keep") < 16
    keep = {**env, **KEEP_FREED_MEMORY_ENV}  # the same from the environment, as a Dask worker starts
    done = subprocess.run([sys.executable, "-c", _FAULTS, "default"], capture_output=True, text=True, check=True,
                          env=keep)
    assert int(done.stdout) < 16
