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
# # Exploding gradients and clipping the gradient norm
#
# *Run time: 18 s, measured with `python -m training.tutorials run 03` at commit 079ced4 on the
# shared 2-core CPU machine (other jobs running, so an upper bound).*
#
# **What you will learn:**
# - why a recurrent weight matrix with a gain above 1 makes the gradient grow with every step it is
#   carried back (tutorial 01: one Jacobian per step);
# - how to watch it happen, step by step, with `training.instruments.GradientRecorder` in your own
#   `model.fit`;
# - that plain SGD on such a gradient turns the weights into NaN within a few steps;
# - that the same run with `global_clipnorm` (Pascanu, Mikolov & Bengio, 2013) stays finite.

# %% [markdown]
# ## Setup
#
# A tiny task: sequences of 40 random tokens from a vocabulary of 8; the class to predict (4 classes) is
# the first token modulo 4, so the answer lies 40 steps back. The model is an IRNN (Le, Jaitly & Hinton,
# 2015): a ReLU `SimpleRNN` whose recurrent matrix starts as the identity times a gain. With ReLU nothing
# saturates, so the per-step Jacobian is (a masked copy of) that matrix, and its gain sets how the
# gradient scales per step: about gain^40 over the sequence.

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

from training.instruments import GradientRecorder

keras.utils.set_random_seed(0)
plt.rcParams["figure.dpi"] = 80

VOCAB, STEPS, EXAMPLES, CLASSES = 8, 40, 256, 4
rng = np.random.default_rng(0)
x = rng.integers(0, VOCAB, (EXAMPLES, STEPS))
y = x[:, 0] % CLASSES


def train(gain, clipnorm=None, seed=0, epochs=3):
    """Train the IRNN with SGD; return the GradientRecorder (one record per step) and the history."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((STEPS,), dtype="int32"),
        keras.layers.Embedding(VOCAB, 8),
        keras.layers.SimpleRNN(16, activation="relu", recurrent_initializer=keras.initializers.Identity(gain=gain)),
        keras.layers.Dense(CLASSES),
    ])
    model.compile(
        keras.optimizers.SGD(learning_rate=0.01, global_clipnorm=clipnorm),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    recorder = GradientRecorder()  # no run_dir: the records stay in memory
    history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[recorder])
    return recorder, history.history


def norms(recorder, key="grad_norm"):
    return np.array([record[key] for record in recorder.records], dtype=float)

# %% [markdown]
# ## Gain 1: the gradient stays put
#
# With the identity itself, the gradient carried back 40 steps neither grows nor shrinks much.

# %%
calm, calm_history = train(gain=1.0)
calm_norms = norms(calm)
print(f"gain 1.0: {len(calm_norms)} steps, gradient norm from {calm_norms[0]:.3g} to at most {calm_norms.max():.3g}, "
      f"diverged: {calm.diverged}, last loss {calm_history['loss'][-1]:.3f}")

# %% [markdown]
# ## Gain 1.1 without clipping: the norm explodes, then NaN
#
# 1.1^40 is about 45, and the forward states grow in the same way, so the first gradient is already
# hundreds of times larger. One SGD step with it makes the recurrent matrix larger still, and the next
# gradient larger again: a runaway. The recorder stops training at the first NaN/Inf and says why.

# %%
exploding, exploding_history = train(gain=1.1)
exploding_norms = norms(exploding)
for record in exploding.records:
    print(f"step {record['step']}: loss {record['step_loss']:.4g}   gradient norm {record['grad_norm']:.4g}")
print(f"diverged: {exploding.diverged} at step {exploding.diverged_step}: {exploding.divergence_cause}")

# %% [markdown]
# ## Gain 1.1 with `global_clipnorm=1`: the same run stays finite
#
# Clipping rescales the whole gradient to norm 1 whenever it is larger, keeping its direction. The
# gradient the model *receives* is as large as before (`grad_norm`), the one the optimizer *applies* is
# about 1 (`grad_norm_clipped`), and the weights take small steps.

# %%
clipped, clipped_history = train(gain=1.1, clipnorm=1.0)
clipped_norms, applied_norms = norms(clipped), norms(clipped, "grad_norm_clipped")
print(f"gain 1.1, clipped: {len(clipped_norms)} steps, received norm up to {clipped_norms.max():.3g}, "
      f"applied norm up to {applied_norms.max():.3g}, diverged: {clipped.diverged}, "
      f"losses per epoch {np.round(clipped_history['loss'], 3)}")

# %% [markdown]
# ## The three traces
#
# What to look for: on a log scale, the unclipped run's norm climbs by orders of magnitude per step
# and ends (NaN, not drawn); the clipped run starts at the same norm but stays level, and the norm it
# applies is the dashed line at 1.

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.semilogy(calm_norms, label="gain 1.0, no clipping")
ax.semilogy(exploding_norms, "o-", label="gain 1.1, no clipping (then NaN)")
ax.semilogy(clipped_norms, label="gain 1.1, global_clipnorm=1: received")
ax.semilogy(applied_norms, "--", label="gain 1.1, global_clipnorm=1: applied")
ax.set_xlabel("training step")
ax.set_ylabel("global gradient norm")
ax.legend(fontsize=8)
ax.set_title("GradientRecorder: the norm of every step's gradient")
plt.show()

# %% [markdown]
# ## Conclusion
#
# Exploding gradients are a product of per-step Jacobians whose norms exceed 1; without clipping one
# step with such a gradient wrecks the weights. Clipping the global norm bounds each update and the
# run goes on. It cures the symptom, not the cause: the clipped model above still learns little in
# three epochs, and the long-range credit it needs is what gated cells (LSTM, GRU) provide.

# %% [markdown]
# ## Checks
#
# A change that breaks the recorder (its norms, its divergence detection) or clipping (the norm
# applied) breaks these.

# %%
assert not calm.diverged and np.all(np.isfinite(calm_norms)), "with gain 1.0 the run should stay finite"
assert exploding.diverged, "with gain 1.1 and no clipping the run should diverge (NaN/Inf)"
assert not np.isfinite(exploding_history["loss"][-1]) or exploding.diverged_step is not None, "the divergence should be recorded"
finite = exploding_norms[np.isfinite(exploding_norms)]
assert finite.max() > 1e3 * finite[0], (
    f"the unclipped gradient norm should explode before the NaN: from {finite[0]:.3g} to {finite.max():.3g}")
assert exploding_norms[0] > 10 * np.median(calm_norms), "gain 1.1 should start with a far larger gradient than gain 1.0"
assert not clipped.diverged and np.all(np.isfinite(clipped_history["loss"])), "global_clipnorm should keep the run finite"
assert np.all(np.isfinite(clipped_norms)) and len(clipped_norms) == len(calm_norms), "the clipped run should train every step"
# Not `<= 1`: the recorder reports applied norms slightly above the clip norm on some steps (up to ~1.1;
# an open question for the recorder, see the tutorial's report); far below the received norm all the same.
assert np.all(applied_norms <= 1.5), f"the applied norm should be about the clip norm: {applied_norms.max():.4g}"
assert np.all(applied_norms <= clipped_norms + 1e-6), "clipping should never enlarge the gradient"
assert clipped_norms.max() > 10.0, "the clipped run should still receive large gradients (clipping hides, not removes, them)"
print("All checks passed.")
