"""Jobs: one spec (:class:`JobSpec`, also a JSON/YAML file) and interchangeable executors.

- :func:`run_burst` materializes one burst of a job (what a container task or array task runs);
- :class:`LocalExecutor` runs a job's bursts in a local process pool;
- the ``isce2`` engine: :func:`run_topsstack` drives ISCE2's topsStack for one burst and
  :func:`convert_topsstack` / :func:`isce2_cslc` turn its coregistered bursts into CSLC.
"""

from cube.jobs._isce2 import (
    TopsStackTask,
    convert_topsstack,
    isce2_cslc,
    read_isce_image,
    run_topsstack,
    topsstack_command,
    topsstack_task,
    write_isce_image,
)
from cube.jobs._local import LocalExecutor
from cube.jobs._run import date_sets, make_engine, plan_burst, run_burst, run_job_bursts
from cube.jobs._spec import BurstJob, JobSpec, ProductJob, load_job

__all__ = [
    "BurstJob",
    "JobSpec",
    "LocalExecutor",
    "ProductJob",
    "TopsStackTask",
    "convert_topsstack",
    "date_sets",
    "isce2_cslc",
    "load_job",
    "make_engine",
    "plan_burst",
    "read_isce_image",
    "run_burst",
    "run_job_bursts",
    "run_topsstack",
    "topsstack_command",
    "topsstack_task",
    "write_isce_image",
]
