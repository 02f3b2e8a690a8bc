"""Imported by every ISCE2 process the topsStack driver starts (it is on their PYTHONPATH).

ISCE2 2.6.5 writes numbers into its state files (``PICKLE/*.xml``) with ``repr``; numpy 2
prints ``np.int64(0)`` there and resuming a step then fails. numpy's 1.25 printing keeps ``0``.
"""

try:
    import numpy

    if int(numpy.__version__.split(".")[0]) >= 2:
        numpy.set_printoptions(legacy="1.25")
except ImportError:  # pragma: no cover - ISCE2 always has numpy
    pass
