"""ArdFunction (container image): ``/ard``, ``/point``, ``/zonal`` and ``/jobs``.

Requests that need more chunks than one request may compute answer 202 with a ``/jobs/{id}``
location; the job runs on the configured executor (Step Functions in the deployed stack).
"""

from __future__ import annotations

from functions.lambda_glue import image_function

ROUTERS = ("ard", "analysis", "jobs")

app, handler = image_function(ROUTERS)
