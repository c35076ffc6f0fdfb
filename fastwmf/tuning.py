"""The w0 search under its earlier module name.

It lives in :mod:`fastwmf.model_selection`; this module re-exports it so that
code written against ``fastwmf.tuning`` keeps working.
"""

from .model_selection import DEFAULT_W0, TuningResult, plot_tuning, tune_w0

__all__ = ["tune_w0", "TuningResult", "plot_tuning", "DEFAULT_W0"]
