"""LRU, the Linear Recurrent Unit (Orvieto et al., 2023, "Resurrecting Recurrent Neural Networks for Long
Sequences", Sec. 3):

    x_t = lambda * x_{t-1} + gamma * (u_t B),    y_t = Re(x_t C) + u_t D       (x complex, diagonal lambda)
    lambda = exp(-exp(nu) + i exp(theta)),   |lambda| = exp(-exp(nu)) < 1,   gamma = sqrt(1 - |lambda|^2)

The eigenvalues are parametrised inside the unit disc (stable by construction, Sec. 3.3) and start on a
ring r_min <= |lambda| <= r_max (Lemma 3.2); gamma normalises the input so that the state keeps its scale
however close |lambda| is to 1 (Sec. 3.4). The gradient through time shrinks by |lambda| per step in each
mode, so its decay is *set* by the ring: log10(1 / max|lambda|) decades per step at the slowest. Trained by
an associative parallel scan, generated one step at a time. The zoo's stack applies it as a layer like
the others (embedding -> LRU layers -> head); the paper's MLP/GLU blocks, residual connections and
normalisation between layers are left out, so it is compared with the other cells as a cell.
"""

import math

from zoo.common import recurrent_stack
from zoo.registry import CommonArgs, reads_backwards, register_model
from zoo.scan import LRU


@register_model(
    "lru",
    display="LRU",
    family="recurrent",
    default_bias_words="no gates (|lambda| on the ring 0.9 to 0.999)",
    recurrent_kernel_words="diagonal complex, |lambda| on the ring [0.9, 0.999]",
    sees_future=reads_backwards,
    initialization="Orvieto et al. (2023) ring: |lambda|^2 uniform on [0.9^2, 0.999^2], phases uniform on "
                   "[0, pi/10]; gamma normalisation; B, C normal with 1/sqrt(2 in), 1/sqrt(units); D glorot-uniform",
)
def lru(common: CommonArgs, /, *, r_min=0.9, r_max=0.999, max_phase=math.pi / 10, scan="parallel",
        bidirectional=False):
    """LRU (Orvieto et al., 2023): a diagonal complex linear recurrence with a set decay, trained by a parallel scan.

    Args:
        common: the arguments every model takes (`zoo.registry.CommonArgs`); `units` is the size of the
            complex state (2 `units` real numbers) and of the layer's output.
        r_min, r_max: the ring the initial |lambda| is drawn from (Sec. 3.3): 0.9 and 0.999 by default, the
            paper's choice for long-range tasks (memories of ~10 to ~1000 steps at initialisation).
        max_phase: the largest initial phase of lambda (pi / 10 by default, the paper's for long ranges).
        scan: "parallel" (the associative scan: training) or "sequential" (one step at a time: the
            reference, and how generation runs). Both compute the same numbers.
        bidirectional: also run it backwards and concatenate the two outputs (registered as
            `bidirectional_lru`): every step sees its whole context, so the model refuses next-token tasks
            (it would read the answer); `units` is each direction's size.
    """

    def layer(return_sequences, name):
        return LRU(common.units, r_min=r_min, r_max=r_max, max_phase=max_phase, scan=scan,
                   return_sequences=return_sequences, name=name)

    layer(False, "check")  # refuses a bad ring or scan before anything is built
    return recurrent_stack(common, layer, layer_name="lru", bidirectional=bidirectional,
                           model_name="bidirectional_lru" if bidirectional else "lru")
