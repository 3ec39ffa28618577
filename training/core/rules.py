"""The rules that decide how a run's numbers are read, each with its one threshold.

The training loop's diagnostics (`training.core.diagnostics`, written into a run's metadata.json) and the
report (`training.sweep`, reading old run folders that lack those records) apply the same rules from
here, so a run is never degenerate by one rule and sound by the other. Standard library only: a report
can be rebuilt without TensorFlow.

    degenerate     a loss over LOSS_OVER_CHANCE_LIMIT x the chance loss, a hidden state over
                   HIDDEN_NORM_LIMIT, or a global gradient of exactly 0 for the last
                   ZERO_GRADIENT_MIN_STEPS recorded steps or more
    solved         an accuracy of at least SOLVED_ACCURACY (steps to solve: the first curve point there)
    still falling  a line through the last quarter of the validation curve still drops (see `still_falling`)
    exploding      the largest step norm over EXPLODING_RATIO x the median of the steps before it, at least
                   the first EXPLODING_REFERENCE_STEPS others (`explosion_ratio`; the console,
                   `training.inspect`, the report's gradient reasons)
    vanished       the gradient at the key (or the first position) under 10^VANISHED_DECADES of the
                   gradient at the last input (`training.inspect`; the vanishing takeaway's sentence)
"""

from __future__ import annotations

import math

LN2 = math.log(2.0)  # nats per bit
# Whether a larger value of a metric is better.
HIGHER_IS_BETTER = {"accuracy": True, "mse": False, "nll": False, "bits_per_char": False, "perplexity": False}
# An accuracy at least this is "solved" (the recall, temporal-order and cloze tasks; steps to solve).
SOLVED_ACCURACY = 0.9
# A loss this many times the chance loss: the weights left any sensible region (a saturated softmax).
LOSS_OVER_CHANCE_LIMIT = 10.0
# A hidden state this large is not a representation but an overflow on its way (float32 softmax logits
# from it saturate); bounded cells (tanh, sigmoid gates) can never reach it.
HIDDEN_NORM_LIMIT = 1e6
# A gradient of exactly 0 for at least this many recorded steps at the end: the run stopped learning.
ZERO_GRADIENT_MIN_STEPS = 5
# still_falling: the part of the curve the line is fitted to, and how much it must still drop.
FALLING_TAIL, FALLING_MIN_POINTS, FALLING_OF_TOTAL_DROP, FALLING_OF_FINAL = 0.25, 3, 0.1, 0.01
STILL_FALLING_RULE = ("least-squares line over the last 25% of the validation curve drops by > 10% of the total "
                      "drop and > 1% of the final loss")


def higher_is_better(metric: str) -> bool:
    return HIGHER_IS_BETTER.get(metric, False)


def reached(value, threshold: float, higher_is_better: bool = True) -> bool:
    """Whether `value` (None or NaN: no) is at or beyond `threshold` in the good direction."""
    if value is None or not math.isfinite(value):
        return False
    return value >= threshold if higher_is_better else value <= threshold


def first_step_reaching(steps, values, threshold: float, higher_is_better: bool = True) -> int | None:
    """The first step at which `values` reached `threshold`; None when it never did."""
    for step, value in zip(steps, values):
        if reached(value, threshold, higher_is_better):
            return int(step)
    return None


def loss_over_chance(loss, chance_loss) -> bool:
    """A loss (non-finite, or over LOSS_OVER_CHANCE_LIMIT x the chance loss) that no learned solution has;
    False when the chance loss is unknown."""
    if loss is None or not chance_loss:
        return False
    return not math.isfinite(loss) or loss > LOSS_OVER_CHANCE_LIMIT * chance_loss


def hidden_overflow(norm) -> bool:
    """A hidden-state norm over HIDDEN_NORM_LIMIT (NaN counts as over); None: unknown, False."""
    return norm is not None and not norm <= HIDDEN_NORM_LIMIT


def zero_gradient_from(steps, norms) -> int | None:
    """The first recorded step from which every global gradient norm is exactly 0 to the end, when that
    stretch has at least ZERO_GRADIENT_MIN_STEPS records; None otherwise."""
    steps, norms = list(steps), [float(n) for n in norms]
    start = len(norms)
    while start and norms[start - 1] == 0:
        start -= 1
    if len(norms) - start < ZERO_GRADIENT_MIN_STEPS:
        return None
    return int(steps[start])


def still_falling(steps, losses) -> bool | None:
    """Whether a loss curve was still going down at the end of training.

    Fits a least-squares line to the last FALLING_TAIL of the steps (at least FALLING_MIN_POINTS points);
    still falling when the drop that line predicts over that stretch is more than FALLING_OF_TOTAL_DROP of
    the curve's total drop (first point to best point) and more than FALLING_OF_FINAL of the final loss.
    None: fewer than 4 finite points."""
    pairs = [(float(s), float(v)) for s, v in zip(steps, losses)
             if v is not None and math.isfinite(float(s)) and math.isfinite(float(v))]
    if len(pairs) < max(FALLING_MIN_POINTS, 4):
        return None
    first, last = pairs[0][0], pairs[-1][0]
    tail = [p for p in pairs if p[0] >= first + (1 - FALLING_TAIL) * (last - first)]
    if len(tail) < FALLING_MIN_POINTS:
        tail = pairs[-FALLING_MIN_POINTS:]
    xs, ys = [p[0] for p in tail], [p[1] for p in tail]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    predicted_drop = -slope * (xs[-1] - xs[0])
    total_drop = pairs[0][1] - min(v for _, v in pairs)
    return bool(predicted_drop > FALLING_OF_TOTAL_DROP * max(total_drop, 0.0)
                and predicted_drop > FALLING_OF_FINAL * abs(pairs[-1][1]))


# An epoch (or a run) "explodes" when its largest step norm is more than this many times the median of the
# steps before it: two decades, where an ordinary run's neighbouring steps stay within one.
EXPLODING_RATIO = 100.0
# At least this many steps make the median: a largest step earlier than that is compared with the first this
# many other steps (the steps after it too), since too few come before it.
EXPLODING_REFERENCE_STEPS = 5
REFERENCE_WORDS = f"the median of the steps before it (at least the first {EXPLODING_REFERENCE_STEPS} others)"
EXPLODING_RULE = f"the largest step norm over {EXPLODING_RATIO:g}x {REFERENCE_WORDS}"


def explosion_ratio(norms) -> float | None:
    """How many times the largest finite step norm of `norms` (in training order) is the median of the finite
    norms before it, or, when fewer than EXPLODING_REFERENCE_STEPS come before it, of the first
    EXPLODING_REFERENCE_STEPS finite norms other than it. None with fewer than two finite norms or a zero median.

    Not the median of the whole run: a run that converged (step norms ~1 at first, ~1e-4 for most of its
    steps) has a largest step thousands of times its median, and nothing exploded. Against what came before
    it, a norm that rose (1, 1, 1, 1e6, 1) stands out and one that fell (1 ... 1e-5) does not; a first step far
    above the next few (a recurrent gain of 2 at initialisation) stands out too. A norm that falls by 100x
    within its first few steps reads like that first-step spike."""
    finite = [float(v) for v in norms if v is not None and math.isfinite(float(v))]
    if len(finite) < 2:
        return None
    at = max(range(len(finite)), key=finite.__getitem__)
    reference = _median((finite[:at] + finite[at + 1:])[:max(at, EXPLODING_REFERENCE_STEPS)])
    return finite[at] / reference if reference > 0 else None


def exploding(ratio) -> bool:
    """Whether an `explosion_ratio` says the step norms exploded (over EXPLODING_RATIO)."""
    return ratio is not None and ratio > EXPLODING_RATIO  # NaN: False; a ratio that overflowed to inf: True


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


# The gradient "vanished" when what reaches the key (or the first position) is under 10^VANISHED_DECADES of
# what reaches the last input: three decades, where the vanishing takeaway says "the gradient vanishes" (the
# quick sweep's recall variants that learned lie well above it, those at chance well below: docs/results.md).
VANISHED_DECADES = -3.0


def vanished(decades) -> bool:
    """Whether a log10 ratio of the gradient at the key to the gradient at the last input has vanished (see
    `VANISHED_DECADES`); None or NaN: no."""
    return decades is not None and math.isfinite(decades) and decades < VANISHED_DECADES
