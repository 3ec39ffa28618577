"""The rules a run is judged by, one threshold each, shared by the console, `training.inspect` and the
report. Standard library only: reading a rule imports no TensorFlow."""

from __future__ import annotations

# An epoch (or a run) "explodes" when its largest step norm is more than this many times its median step
# norm: two decades, where an ordinary run's steps stay within one.
EXPLODING_RATIO = 100.0


def exploding(max_norm, median_norm) -> bool:
    """Whether step norms with this maximum and median exploded (see `EXPLODING_RATIO`)."""
    return median_norm is not None and max_norm is not None and max_norm > EXPLODING_RATIO * max(median_norm, 1e-30)
