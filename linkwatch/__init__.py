"""linkwatch: keep every source cited in a corpus alive or preserved.

Stages, in the one direction data flows:
extract -> store -> check -> archive -> report.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
