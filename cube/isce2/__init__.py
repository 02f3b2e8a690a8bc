"""The ISCE2 engine's adapter: ISCE2's image format, topsStack's driver, its output → CSLC.

- :mod:`cube.isce2._image`: ISCE2 rasters (``.xml`` header + raw binary + GDAL ``.vrt``);
- :mod:`cube.isce2._inputs`: orbit ``.EOF`` files from the cube's metadata, the SAFEs of its dates;
- :mod:`cube.isce2._topsstack`: ``stackSentinel.py -W slc`` for one burst, then its run files;
- :mod:`cube.isce2._convert`: topsStack's coregistered bursts → CSLC on the burst's fixed grid.

Only :func:`run_topsstack` needs ISCE2 (``make isce2``, or conda-forge's isce2 in the worker
image). ``cube.jobs`` runs it for a job's burst (docs/isce2.md).
"""

from cube.isce2._convert import (
    IsceBurst,
    burst_file,
    convert_topsstack,
    isce2_cslc,
    read_topsstack_bursts,
)
from cube.isce2._image import (
    IsceImage,
    open_isce_image,
    read_isce_image,
    read_isce_window,
    write_isce_dem,
    write_isce_image,
)
from cube.isce2._inputs import find_safes, write_orbit_eof
from cube.isce2._topsstack import (
    NO_ISCE2,
    SITE_DIR,
    TopsStackError,
    TopsStackTask,
    execute_run_files,
    isce2_available,
    isce2_prefix,
    run_topsstack,
    topsstack_command,
    topsstack_environment,
    topsstack_task,
)

__all__ = [
    "NO_ISCE2",
    "SITE_DIR",
    "IsceBurst",
    "IsceImage",
    "TopsStackError",
    "TopsStackTask",
    "burst_file",
    "convert_topsstack",
    "execute_run_files",
    "find_safes",
    "isce2_available",
    "isce2_cslc",
    "isce2_prefix",
    "open_isce_image",
    "read_isce_image",
    "read_isce_window",
    "read_topsstack_bursts",
    "run_topsstack",
    "topsstack_command",
    "topsstack_environment",
    "topsstack_task",
    "write_isce_dem",
    "write_isce_image",
    "write_orbit_eof",
]
