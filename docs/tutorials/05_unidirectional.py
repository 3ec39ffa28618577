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
# # Unidirectional: the mouse is used to ___
#
# *Run time: 80 s, measured with `python -m training.tutorials html 05` (same execution as `python -m training.tutorials run 05`) on top of commit 269b0b0 on the
# shared 2-core CPU machine (other jobs running, so an upper bound).*
#
# **What you will learn:**
# - that a causal GRU must answer "click" or "search" before it has read the words that decide it, so it
#   sits at chance at the blank;
# - that the same GRU answers right when it may answer after the cue (`answer_delay`);
# - that a bidirectional GRU and self-attention without its causal mask read the future and solve it;
# - why: the causal model's loss at the blank sends exactly zero gradient to the later words;
# - where attention looks when it fills the blank.

# %% [markdown]
# ## Setup
#
# `mouse_cloze` yields (inputs, targets, sample weights); the weight marks the one scored step (the
# blank, or the last word + `answer_delay`). Chance is 1/2. Tiny sizes, one `model.fit` each.

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

import datasets
import zoo

keras.utils.set_random_seed(0)
plt.rcParams["figure.dpi"] = 80
UNITS, BATCH, STEPS, DELAY = 16, 32, 200, 2
CASES = {
    "causal GRU": ("gru", {"implementation": "keras"}, None),
    f"GRU, answer_delay={DELAY}": ("gru", {"implementation": "keras"}, DELAY),
    "bidirectional GRU": ("bidirectional_gru", {"implementation": "keras"}, None),
    "attention, causal mask": ("self_attention", {"use_causal_mask": True, "num_heads": 2}, None),
    "attention, no mask": ("self_attention", {"use_causal_mask": False, "num_heads": 2}, None),
}


def scored_accuracy(model, dataset):
    """Accuracy at the one scored step of each example (the blank, or last word + answer_delay)."""
    right = total = 0
    for inputs, targets, weights in dataset:
        predicted = model.predict(inputs, verbose=0).argmax(-1)
        step = np.argmax(weights.numpy() > 0, axis=1)
        rows = np.arange(len(step))
        right += int((predicted[rows, step] == targets.numpy()[rows, step]).sum())
        total += len(step)
    return right / total


def train(name, kwargs, delay, seed=0):
    keras.utils.set_random_seed(seed)
    train_ds, spec = datasets.load_task("mouse_cloze", "train", BATCH, seed, answer_delay=delay)
    test_ds, _ = datasets.load_task("mouse_cloze", "test", 300, answer_delay=delay, eval_size=300)
    model = zoo.build_model(name, vocabulary_size=spec.vocabulary_size, output="per_step",
                            num_classes=spec.num_classes, sequence_length=spec.sequence_length, units=UNITS, **kwargs)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train_ds, steps_per_epoch=STEPS, epochs=1, verbose=0, shuffle=False)  # the stream is shuffled already
    return model, scored_accuracy(model, test_ds), spec, test_ds

# %% [markdown]
# ## Train the five models
#
# The same GRU three ways (causal at the blank, causal answering after the cue, bidirectional) and
# the same self-attention with and without its causal mask.

# %%
results = {label: train(*case) for label, case in CASES.items()}
for label, (_, acc, _, _) in results.items():
    print(f"{label:26s} accuracy at the scored step {acc:.3f}")

# %% [markdown]
# ## Accuracy at the scored step
#
# What to look for: the causal GRU and the masked attention at the chance line 1/2; the rest near 1.

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.bar(range(len(results)), [r[1] for r in results.values()])
ax.axhline(0.5, color="grey", linestyle="--", label="chance (1/2)")
ax.set_xticks(range(len(results)))
ax.set_xticklabels(list(results), rotation=20, fontsize=8)
ax.set_ylabel("test accuracy")
ax.set_ylim(0, 1.05)
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Why: the loss at the blank never reaches the words after it
#
# Training can only teach a model to use an input that the loss's gradient reaches.
# `training.instruments.AnswerGradient` differentiates the loss at the scored step with
# respect to every embedded input; `cloze_positions` says where each example's blank and its deciding words
# (everything after the blank) are. A causal model's loss at the blank has *no path* back to a later word:
# its gradient there is exactly 0, not small. Answering after the sentence, or reading both ways, there is.
#
# What to look for: the causal GRU's and the masked attention's lines stop at the blank (▼: exactly 0 after
# it); the other three continue to the right.

# %%
from training.instruments import AnswerGradient

task = datasets.get_task("mouse_cloze")
at_cue = {}
fig, ax = plt.subplots(figsize=(7, 3.5))
for i, (label, (model, _, spec, test_ds)) in enumerate(results.items()):
    inputs, targets, weights = (t.numpy()[:64] for t in next(iter(test_ds)))
    blank, cue = task.cloze_positions(inputs, task.resolve({"answer_delay": CASES[label][2]}))
    at_cue[label] = AnswerGradient(model)(inputs, targets, weights, blank, cue)
    offsets, profile = np.array(at_cue[label]["offsets"]), np.array(at_cue[label]["profile"])
    ax.plot(offsets, np.where(profile > 0, profile, np.nan), color=f"C{i}", label=label)
    zero = profile == 0
    ax.plot(offsets[zero], np.zeros(zero.sum()), "v", color=f"C{i}", clip_on=False, transform=ax.get_xaxis_transform())
    words = "exactly 0: no path" if at_cue[label]["ratio"] == 0 else f"10^{np.log10(at_cue[label]['ratio']):.1f}"
    print(f"{label:26s} gradient reaching the words after the blank: {words}")
ax.axvline(0, color="grey", linestyle=":")
ax.set_yscale("log")
ax.set_xlabel("input step minus the blank's step")
ax.set_ylabel("||dL/dx_t|| / at the scored step")
ax.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Where unmasked attention looks at the blank
#
# zoo's self_attention uses `keras.layers.MultiHeadAttention` (layer `block_1_attention`, its input the
# output of `block_1_attention_norm`); called with `return_attention_scores=True` it returns the weights
# (batch, heads, query, key). Row = the blank's position; test examples 0 and 1 are the article's two sentences.

# %%
model, _, spec, test_ds = results["attention, no mask"]
inputs, _, _ = next(iter(test_ds))
normed = keras.Model(model.inputs, model.get_layer("block_1_attention_norm").output).predict(inputs[:2], verbose=0)
_, scores = model.get_layer("block_1_attention")(normed, normed, return_attention_scores=True)
scores = np.asarray(scores).mean(axis=1)  # mean over heads: (2, query, key)
fig, axes = plt.subplots(2, 1, figsize=(7, 5))
for row, ax in enumerate(axes):
    ids = inputs[row].numpy()
    real = ids != 0
    blank = int(np.argmax(ids == spec.blank_token_id))
    ax.bar(range(real.sum()), scores[row, blank][real])
    ax.set_xticks(range(real.sum()))
    ax.set_xticklabels([spec.vocabulary[t] for t in ids[real]], rotation=45, fontsize=8)
    ax.set_ylabel("attention at ___")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Conclusion
#
# A causal model cannot fill a blank decided by later words: it can only guess, unless it is allowed to
# answer later. Its loss at the blank has no gradient path to those words, so no amount of training can
# change that. Bidirectional RNNs and unmasked attention read the whole sentence.

# %% [markdown]
# ## Checks
#
# A change that lets a causal model see the future (a leak in the task or a mask) or that stops the
# future-reading models from using it breaks these.

# %%
acc = {label: r[1] for label, r in results.items()}
assert abs(acc["causal GRU"] - 0.5) < 0.12, f"a causal GRU should be at chance at the blank: {acc['causal GRU']:.3f}"
assert abs(acc["attention, causal mask"] - 0.5) < 0.12, "masked attention should be at chance at the blank"
for label in (f"GRU, answer_delay={DELAY}", "bidirectional GRU", "attention, no mask"):
    assert acc[label] > 0.9, f"{label} reads the cue and should solve the blank: {acc[label]:.3f}"
for label in ("causal GRU", "attention, causal mask"):  # the mechanism: no gradient from the future at all
    assert at_cue[label]["ratio"] == 0.0, f"{label}: the loss at the blank reached a later word"
for label in (f"GRU, answer_delay={DELAY}", "bidirectional GRU", "attention, no mask"):
    assert at_cue[label]["ratio"] > 0, f"{label}: its loss should reach the words after the blank"
print("All checks passed.")
