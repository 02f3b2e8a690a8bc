"""`available_cpus`: the CPUs a worker process may use, from its cgroup's quota files (v2 and v1)."""

from __future__ import annotations

import os

import pytest

from cube.config import _cgroup_cpus, available_cpus


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
