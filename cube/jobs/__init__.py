"""Jobs: one spec (:class:`JobSpec`, also a JSON/YAML file) and interchangeable executors.

- :func:`run_burst` materializes one burst of a job (what a container task or array task runs);
- :class:`LocalExecutor` runs a job's bursts in a local process pool.
"""

from cube.jobs._local import LocalExecutor
from cube.jobs._run import date_sets, make_engine, plan_burst, run_burst, run_job_bursts
from cube.jobs._spec import BurstJob, JobSpec, ProductJob, load_job

__all__ = [
    "BurstJob",
    "JobSpec",
    "LocalExecutor",
    "ProductJob",
    "date_sets",
    "load_job",
    "make_engine",
    "plan_burst",
    "run_burst",
    "run_job_bursts",
]
