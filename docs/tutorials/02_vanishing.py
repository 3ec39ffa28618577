# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: rnn-zoo (.venv)
#     language: python
#     name: rnn-zoo
# ---

# %% [markdown]
# # Vanishing gradients: a product of per-step derivatives
#
# *Run time: 21 s, measured with `python -m training.tutorials run 02` at commit ca910e8 on the
# shared 2-core CPU machine (other jobs running, so an upper bound).*
#
# **What you will learn:**
# - the article's argument: the sigmoid's derivative is at most 0.25, so a product of many of them is tiny;
# - how to measure that product in a real Keras model with the through-time instrument
#   (`training.instruments.gradient_through_time`, `summarize_profile`);
# - how sigmoid, tanh and ReLU recurrences compare, and what the recurrent gain does;
# - what Keras's default recurrent initializer (orthogonal, gain 1) buys, and what is left for learning.

# %% [markdown]
# ## Setup
#
# Tutorial 01 showed that the gradient of the loss at the last step T reaches step t through T - t
# Jacobians `ds_j/ds_{j-1} = diag(f'(a_j)) W^T`. Their norm is at most `max f' x ||W||`. For the sigmoid,
# `f' = s(1 - s) <= 0.25`; with an orthogonal W (every singular value equal to the gain g) the gradient
# at lag k is at most `(0.25 g)^k` of the gradient at lag 0: it falls by at least `-log10(0.25 g)`
# decades per step, 0.60 for g = 1.
#
# The instrument measures `|| dL_T / dh_t ||`, the gradient of the last step's loss with respect to the
# hidden state after step t, for every t, averaged over a batch; `summarize_profile` fits its decay in
# decades per step of lag. The model: token ids, an Embedding, one `SimpleRNN` (the recurrence under
# test) and a Dense classifier that reads the last state; the class is the first token (the key of a
# recall task), so the answer lies the whole sequence back.

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

from training.instruments import gradient_through_time, summarize_profile

keras.utils.set_random_seed(0)
plt.rcParams["figure.dpi"] = 80

VOCAB, STEPS, BATCH, UNITS = 16, 30, 64, 32
rng = np.random.default_rng(0)
x = rng.integers(0, VOCAB, (BATCH, STEPS))
y = x[:, 0]  # the key, STEPS - 1 steps before the loss reads it


def rnn_model(activation, recurrent_initializer="orthogonal", seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((STEPS,), dtype="int32"),
        keras.layers.Embedding(VOCAB, 16),
        keras.layers.SimpleRNN(UNITS, activation=activation, recurrent_initializer=recurrent_initializer),
        keras.layers.Dense(VOCAB),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def profile_of(model):
    """|| dL_T / dh_t || for t = 1..T (index t - 1), and its summary."""
    profile = gradient_through_time(model, x, y, probe="state")
    return profile, summarize_profile(profile)

# %% [markdown]
# ## Sigmoid, tanh and ReLU, each with Keras's default recurrent matrix
#
# Keras's `SimpleRNN` starts its recurrent matrix orthogonal with gain 1: every singular value is 1, so
# W itself neither shrinks nor grows the gradient, and whatever decay we see comes from `f'`.

# %%
BOUND_SIGMOID = -np.log10(0.25)  # decades per step, for gain 1
profiles, summaries = {}, {}
for activation in ("sigmoid", "tanh", "relu"):
    profiles[activation], summaries[activation] = profile_of(rnn_model(activation))
    s = summaries[activation]
    print(f"{activation:8s} decay {s['decay_decades_per_step']:6.3f} decades/step   "
          f"gradient at the key / at the last step: {10 ** s['log10_ratio']:.2e}")
print(f"sigmoid bound: at least {BOUND_SIGMOID:.3f} decades/step (0.25 per step)")

# %% [markdown]
# What to look for: the sigmoid's line falls at least as steeply as the dashed 0.25-per-step bound; tanh
# and ReLU, whose derivatives reach 1, fall far more slowly.

# %%
lags = np.arange(STEPS)
fig, ax = plt.subplots(figsize=(7, 3.5))
for activation, profile in profiles.items():
    by_lag = profile[::-1]
    ax.semilogy(lags, by_lag / by_lag[0], label=activation)
ax.semilogy(lags, 0.25 ** lags, "k--", label="0.25 per step (sigmoid bound)")
ax.set_xlabel("lag T - t (steps back from the loss)")
ax.set_ylabel("||dL_T/dh_t|| / ||dL_T/dh_T||")
ax.legend(fontsize=8)
ax.set_title("Gradient through time at initialisation")
plt.show()

# %% [markdown]
# ## The recurrent gain
#
# Scale the orthogonal matrix by a gain g: the tanh recurrence's bound becomes `g^k` (tanh' <= 1), a
# decay of at least `-log10(g)` decades per step when g < 1. Above 1 the bound no longer forces decay,
# and the state saturates instead (tanh' falls), which is tutorial 03's territory.

# %%
GAINS = (0.5, 0.8, 1.0, 1.5)
gain_rates = {}
for gain in GAINS:
    _, s = profile_of(rnn_model("tanh", keras.initializers.Orthogonal(gain=gain)))
    gain_rates[gain] = s["decay_decades_per_step"]
    print(f"tanh, gain {gain:3.1f}: decay {gain_rates[gain]:6.3f} decades/step   "
          f"(bound: at least {max(0.0, -np.log10(gain)):.3f})")

# %% [markdown]
# ## Against a non-orthogonal start
#
# Before orthogonal initialisation became the default, recurrent matrices were drawn like any other
# (e.g. Glorot uniform); their singular values spread around 1, some below and some above. What to look
# for: at this small size a random start can decay or grow a little from one seed to the next; the
# orthogonal start holds every singular value at exactly 1 for any size and seed, so with tanh the only
# shrinking left is tanh' itself.

# %%
_, glorot = profile_of(rnn_model("tanh", "glorot_uniform"))
print(f"tanh, glorot_uniform recurrent matrix: decay {glorot['decay_decades_per_step']:.3f} decades/step "
      f"against {summaries['tanh']['decay_decades_per_step']:.3f} for Keras's orthogonal default")

# %% [markdown]
# ## What it means for learning
#
# The gradient that tells the model "the answer was the first token" is the one at lag T - 1. With the
# sigmoid recurrence it is below 0.25^29 (about 3e-18) of the gradient at the last step: nothing of the key reaches
# the weights, and no learning rate fixes that without blowing up the recent steps. With tanh and the
# orthogonal default a usable share arrives at initialisation; keeping it there while the weights move
# is what the gated cells (LSTM, GRU) are for (tutorial 04).

# %% [markdown]
# ## Conclusion
#
# The vanishing gradient is a product of per-step factors `f' x W`. The sigmoid caps `f'` at 0.25, so
# it vanishes at least as fast as 0.25 per step; tanh and ReLU allow 1, and an orthogonal W of gain 1
# adds no shrinking of its own; a gain below 1 adds `-log10(g)` decades per step.

# %% [markdown]
# ## Checks
#
# A change that breaks the through-time instrument, or a recurrence whose derivative is no longer what
# the theory says, breaks these.

# %%
rate = {a: summaries[a]["decay_decades_per_step"] for a in summaries}
assert rate["sigmoid"] >= BOUND_SIGMOID - 0.05, (
    f"the sigmoid recurrence should vanish at least as fast as 0.25 per step: {rate['sigmoid']:.3f} vs {BOUND_SIGMOID:.3f}")
assert rate["sigmoid"] > rate["tanh"] + 0.3, (
    f"the sigmoid recurrence should vanish much faster than tanh: {rate['sigmoid']:.3f} vs {rate['tanh']:.3f} decades/step")
assert rate["sigmoid"] > rate["relu"] + 0.3, (
    f"the sigmoid recurrence should vanish much faster than ReLU: {rate['sigmoid']:.3f} vs {rate['relu']:.3f} decades/step")
for gain in GAINS:
    if gain < 1:
        assert gain_rates[gain] >= -np.log10(gain) - 0.05, (
            f"tanh with gain {gain} should decay at least -log10(gain) decades/step: {gain_rates[gain]:.3f}")
assert gain_rates[0.5] > gain_rates[0.8] > gain_rates[1.0], f"a smaller recurrent gain should vanish faster: {gain_rates}"
assert summaries["sigmoid"]["log10_ratio"] < -0.6 * (STEPS - 1) + 1, "almost nothing should reach the key through the sigmoid"
print("All checks passed.")
