"""Gradient instruments for any compiled Keras model on the TensorFlow backend, passed to your own
`model.fit(callbacks=[...])`. This package imports only keras, tensorflow, numpy and the standard
library (pandas only inside `read_step_gradients`), never the rest of rnn-zoo.

    step_gradients   GradientRecorder: the norms of the gradients the optimizer receives, every step
    through_time     ThroughTimeProbe / GradientThroughTime: ||dL_T/dx_t|| against the lag T - t
    readers          the file names the two write into a run folder, and the functions that read them
    cost             what recording costs per step (`python -m training.bench_gradients`)
    memo             one traced helper per model (a probe's trace), kept with the model
    at_answer        AnswerGradient: the gradient of the loss at a scored step reaching the cue

    from training.instruments import GradientRecorder, GradientThroughTime
    model.fit(x, y, callbacks=[GradientRecorder(run_dir="my-run")])
"""

from training.instruments.at_answer import AnswerGradient
from training.instruments.readers import (
    GRADIENT_SUMMARY_JSON,
    STEP_GRADIENTS_CSV,
    THROUGH_TIME_CSV,
    THROUGH_TIME_NPZ,
    read_gradient_summary,
    read_step_gradients,
    read_through_time,
)
from training.instruments.step_gradients import GradientRecorder
from training.instruments.through_time import (
    FALL_FACTOR,
    GradientThroughTime,
    ThroughTimeProbe,
    gradient_through_time,
    summarize_profile,
)

__all__ = [
    "AnswerGradient",
    "FALL_FACTOR",
    "GRADIENT_SUMMARY_JSON",
    "GradientRecorder",
    "GradientThroughTime",
    "STEP_GRADIENTS_CSV",
    "THROUGH_TIME_CSV",
    "THROUGH_TIME_NPZ",
    "ThroughTimeProbe",
    "gradient_through_time",
    "read_gradient_summary",
    "read_step_gradients",
    "read_through_time",
    "summarize_profile",
]
