"""The one-paragraph takeaway that opens each experiment of a report: what happened, tied to why.

Each experiment's module (`training.sweep.experiments.<key>`) declares its `takeaway(groups, load=None)`
over its `results.VariantGroup`s (one per variant and task value) and returns `Takeaway(headline, text)`
with the helpers here. Every
number in the text comes from the rows; the mechanism sentences are conditional on what the numbers show
(a sentence about vanishing is written only when some variant's gradient did vanish). Comparisons go
through `training.sweep.stats.compare`, so "beat" means a significant difference under a named test.

The mechanisms, in one line each (Bengio et al., 1994; Pascanu et al., 2013; Hochreiter & Schmidhuber,
1997; Tallec & Ollivier, 2018):
    vanishing / exploding   backpropagation through time multiplies one recurrent Jacobian per step
                            (W_h^T diag(f'(a_t))); norms below 1 shrink the product geometrically, above 1
                            grow it
    clipping                rescales the whole gradient to a maximum norm: the direction is kept, the step
                            bounded; the Jacobians are unchanged
    gates                   an LSTM's cell keeps sigma(b_f)^k of what it held k steps ago (a GRU: its
                            update gate); the bias sets the time scale
    causal mask             a causal model answers from the past only; a cue that comes later cannot help
"""

from __future__ import annotations

import dataclasses
import math

from training.sweep import evidence, stats


@dataclasses.dataclass
class Takeaway:
    headline: str
    text: str


def result(group, load_examples=None) -> stats.Result:
    """The group's `stats.Result` (`results.VariantGroup.result`); recomputed only when a loader of
    per-example files is given."""
    if load_examples is None:
        return group.result
    return evidence.result_of(group.label, group.rows, load_examples)


def mean_of(group, field):
    vs = [v for v in group.values(field) if math.isfinite(v)]
    return sum(vs) / len(vs) if vs else None


def num(v, digits=3):
    return evidence.number(v, digits)


def with_interval(group, load=None):
    return evidence.interval_text(result(group, load))


def power_words(log10_value) -> str:
    """10^-4.4 as a student reads it: "4e-5"; 10^-0.3 as "0.5"."""
    value = 10 ** log10_value
    if 0.01 <= value < 100:
        text = f"{value:.2g}"
        return text if "." in text or "e" in text else text + ".0"
    return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")


def and_list(items) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def gap_of(group):
    return group.gap


def has_learned(group, load=None) -> bool | None:
    position = stats.chance_position(result(group, load))
    return None if position is None else position == "above"


