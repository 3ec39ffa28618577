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
# # Long-term dependency: Jane, Kerala and the forget gate
#
# *Run time: 98 s, the longest of five runs of `python -m training.tutorials run 04` (or `html 04`, the
# same execution; 85.3-98.4 s) of this file on branch tut04 (after 1bdc453), on the shared 2-core CPU
# machine at load average ~3.5 (other jobs running); at a load of ~16 a draft with 12 fits timed out at
# 180 s, so this one (8 fits) may take longer on a busier machine.*
#
# **What you will learn:**
# - how the article's sentence "Jane was born in Kerala. ... Jane is very fluent in ___" becomes a task
#   (`kerala_cloze`) whose gap you choose: the number of filler sentences;
# - that with no filler every model finds the language, that with 4 filler sentences in between the
#   plain `SimpleRNN` falls far behind the LSTM, the GRU and self-attention (which looks back at the
#   place in one hop);
# - how to make every trained model answer the article's own sentence (`spec.fill_blank`);
# - how to read the LSTM's forget gate f_t from its weights, word by word, and see which units hold the
#   place across the filler sentences, and how much more of it they keep than before training.

# %% [markdown]
# ## Setup
#
# `datasets.load_task("kerala_cloze", ...)` yields token ids left-padded with `<pad>`, so that the last
# step is the blank, and a class id over the 16 languages of its 16 places: chance is 1/16. The models
# come from the zoo's registry (`zoo.build_model`) and read one label at the last step
# (`output="last_class"`). Every model gets the same budget: 150 steps of Adam on batches of 32.
#
# The gated cells start with a long memory. Keras starts an LSTM's forget gate at sigma(1) = 0.73 and a
# GRU's update gate at sigma(0) = 0.5, so what the cell holds halves every step or two; here the LSTM
# gets `forget_bias=3` (sigma(3) = 0.95) and the GRU `update_bias=2` (0.88). With Keras's default
# GRU, the same budget left it at chance (0.074) at 4 fillers (seed 0, measured while writing this
# tutorial): initialisation decides whether a gated cell can learn a long gap in a short run.

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

import datasets
import zoo

plt.rcParams["figure.dpi"] = 80
FILLERS = (0, 4)  # filler sentences between the place and the question
UNITS, BATCH, STEPS, LEARNING_RATE = 32, 32, 150, 3e-3
MODELS = {
    "SimpleRNN": ("simple_rnn", {}),
    "LSTM, forget_bias=3": ("lstm", {"forget_bias": 3.0, "implementation": "keras"}),
    "GRU, update_bias=2": ("gru", {"update_bias": 2.0}),
    "self-attention": ("self_attention", {"num_heads": 2, "ff_multiplier": 2}),
}
TEST = {f: datasets.load_task("kerala_cloze", "test", 400, fillers=f, eval_size=400) for f in FILLERS}
spec = TEST[0][1]
CHANCE = spec.chance_accuracy
print(f"{spec.num_classes} answers, chance {CHANCE}:", ", ".join(spec.answers))
for f in FILLERS:
    print(f"fillers {f}: sequences of {TEST[f][1].sequence_length} tokens")


INITIAL_WEIGHTS = {}  # (name, fillers) -> the model's weights before its fit


def train(name, kwargs, fillers, seed=0):
    """A zoo model fitted on kerala_cloze with `fillers` filler sentences; returns (model, test accuracy)."""
    keras.utils.set_random_seed(seed)
    train_ds, spec = datasets.load_task("kerala_cloze", "train", BATCH, seed, fillers=fillers)
    model = zoo.build_model(name, vocabulary_size=spec.vocabulary_size, output="last_class",
                            num_classes=spec.num_classes, sequence_length=spec.sequence_length, units=UNITS, **kwargs)
    model.compile(keras.optimizers.Adam(LEARNING_RATE), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    INITIAL_WEIGHTS[name, fillers] = model.get_weights()
    model.fit(train_ds, steps_per_epoch=STEPS, epochs=1, verbose=0, shuffle=False)  # the stream is shuffled already
    _, accuracy = model.evaluate(TEST[fillers][0], verbose=0)
    return model, accuracy

# %% [markdown]
# ## One example of each length
#
# Test example 0 is the article's own sentence, at every filler length (its three filler sentences
# first, then the pool's next ones).

# %%
for f in FILLERS:
    test_ds, spec_f = TEST[f]
    inputs, targets = next(iter(test_ds))
    print(f"fillers {f}: {spec_f.decode(inputs[0].numpy())}  ->  {spec_f.answer_word(int(targets[0]))}")

# %% [markdown]
# ## Train every model at every gap
#
# One `model.fit` per model and filler length, plain Keras; the accuracy is on the 400 test examples.

# %%
accuracy, trained = {}, {}
for fillers in FILLERS:
    for label, (name, kwargs) in MODELS.items():
        trained[label, fillers], accuracy[label, fillers] = train(name, kwargs, fillers)
        print(f"fillers {fillers}  {label:20s} test accuracy {accuracy[label, fillers]:.3f}")

# %% [markdown]
# ## Accuracy against the gap
#
# What to look for: at 0 fillers every model is near 1. At 4 (about 40 words between "Kerala" and the
# blank) the SimpleRNN has fallen far below the two gated cells and self-attention: its path from the
# place to the answer is one attention hop long whatever the gap, while a recurrent model must learn to
# carry the place through every word in between.
#
# Longer gaps need longer training. At 8 filler sentences (about 70 words), with the same models and
# budget (seed 0; measured while writing this tutorial with a standalone script of the same settings,
# not run here to keep within the time limit, so take it as a report, not a check) the recurrent models
# stayed near chance (SimpleRNN 0.146, LSTM 0.060, GRU 0.066) while self-attention (`ff_multiplier=4`)
# reached 1.0.

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
for label in MODELS:
    ax.plot(FILLERS, [accuracy[label, f] for f in FILLERS], "o-", label=label)
ax.axhline(CHANCE, color="grey", linestyle="--", label="chance (1/16)")
ax.set_xlabel("filler sentences between the place and the blank")
ax.set_ylabel("test accuracy")
ax.set_xticks(FILLERS)
ax.set_ylim(0, 1.05)
ax.legend(fontsize=8)
ax.set_title(f"kerala_cloze, {STEPS} training steps each")
plt.show()

# %% [markdown]
# ## The article's sentence, answered by every model
#
# Each model's answer is the argmax of its logits; `spec.fill_blank` writes it into the blank. At 4
# fillers, the sentence is the article's with one more filler sentence.
# One sentence is not an accuracy: a model right about a third of the time (the SimpleRNN at 4
# fillers) may well be right here (it was, in the run at the top of this page); the test accuracies
# above are the measurement.

# %%
F = 4
test_ds, spec4 = TEST[F]
inputs, targets = next(iter(test_ds))
article = inputs[:1]
answers = {}
for label in MODELS:
    answers[label] = int(np.argmax(trained[label, F].predict(article, verbose=0)[0]))
    print(f"{label}:\n    {spec4.fill_blank(article[0].numpy(), answers[label])}")
print("right answer:", spec4.answer_word(int(targets[0])))

# %% [markdown]
# ## The LSTM's forget gate over the sentence
#
# A Keras LSTM keeps its four gates in one kernel: `kernel` (inputs, 4 units), `recurrent_kernel`
# (units, 4 units) and `bias` (4 units), in the order input, forget, cell, output. Step by step in
# NumPy, from the layer's input (the embedded words):
#
#     z_t = x_t W + h_{t-1} U + b,    i, f, g, o = split(z_t)
#     c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g),    h_t = sigmoid(o) * tanh(c_t)
#
# The last h must equal what the layer itself returns (checked below). What is written into the cell
# at the place survives to the blank in proportion to the product of f_t over the words after it: that
# product, per unit, is the unit's memory of "Kerala". The same reading of the same LSTM before its
# `fit` (its initial weights, kept by `train`) tells what the training changed: `forget_bias=3` alone keeps about
# sigma(3)^words of it.

# %%
def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def forget_gates(model, ids):
    """The LSTM's forget gate f_t at every word of `ids` (words, units), in NumPy, and its last h against the layer's."""
    layer = next(layer for layer in model.layers if isinstance(layer, keras.layers.LSTM))
    x = keras.Model(model.inputs, layer.input).predict(ids[None], verbose=0)[0]  # (T, embedding)
    h_keras = keras.Model(model.inputs, layer.output).predict(ids[None], verbose=0)[0]  # (units,)
    W, U, b = (np.asarray(w) for w in layer.get_weights())
    n = U.shape[0]
    h, c, forget = np.zeros(n), np.zeros(n), []
    for x_t in x:
        z = x_t @ W + h @ U + b
        i, f, g, o = sigmoid(z[:n]), sigmoid(z[n:2 * n]), np.tanh(z[2 * n:3 * n]), sigmoid(z[3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
        forget.append(f)
    return np.array(forget)[ids != 0], np.abs(h - h_keras).max()  # drop the left padding


ids = article[0].numpy()
words = [spec4.vocabulary[t] for t in ids[ids != 0]]
place = words.index("Kerala")
lstm = trained["LSTM, forget_bias=3", F]
untrained = keras.models.clone_model(lstm)
untrained.set_weights(INITIAL_WEIGHTS[MODELS["LSTM, forget_bias=3"][0], F])
forget, difference = forget_gates(lstm, ids)
forget_before, _ = forget_gates(untrained, ids)
kept = forget[place + 1:].prod(axis=0)  # (units,): share of the cell written at "Kerala" left at the blank
kept_before = forget_before[place + 1:].prod(axis=0)
order = np.argsort(kept)[::-1]
n = len(kept)
print(f"NumPy h_T against the layer's: largest difference {difference:.1e}")
print(f"{len(words) - place - 1} words from 'Kerala' to the blank; sigma(3) to that power: "
      f"{sigmoid(3.0) ** (len(words) - place - 1):.3f}")
for name, k in (("before training", kept_before), ("after training", kept)):
    print(f"share of the cell at 'Kerala' kept to the blank, {name}: best unit {k.max():.3f}, "
          f"best 5 {np.round(np.sort(k)[::-1][:5], 3)}, median {np.median(k):.1e}")

# %% [markdown]
# What to look for: each row is one unit (the units that keep the most of "Kerala" at the top), each
# column one word. Dark means f_t near 1, the cell keeps what it holds; light means it forgets (the
# colours span only 0.9 to 1: over 39 words, 0.95 at every word keeps 0.14, 0.98 keeps 0.45). The black
# dots on the right are each unit's memory of the place before training. Before training every
# unit keeps about what `forget_bias=3` alone gives, sigma(3) to the power of the words in between
# (0.15 here). After 150 steps the best units keep about two and a half times that (0.38 and 0.44 for
# the best unit at seeds 0 and 1; 0.16 and 0.18 before), and the median unit a little more (0.21 /
# 0.19); a few units keep less than before. Training has turned the forget gates of most units up
# over the filler sentences, most of all for a few, so that they carry the place further. Even the
# best unit loses more than half of it over 39 words: the memory is learnt a little at a time, which is
# why a longer gap needs a longer training.

# %%
fig, (ax, bar) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [6, 1]}, sharey=True)
image = ax.imshow(forget[:, order].T, aspect="auto", cmap="viridis_r", vmin=0.9, vmax=1)  # f_t is mostly above 0.9
ax.axvline(place, color="red", linewidth=1)
ax.set_xticks(range(len(words)))
ax.set_xticklabels(words, rotation=90, fontsize=7)
ax.set_ylabel("unit (sorted by memory of 'Kerala')")
ax.set_title("The trained LSTM's forget gate f_t over the article's sentence (red: the place)")
fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01, extend="min", label="f_t (0.9 and below: lightest)")
bar.barh(range(n), kept[order], color="tab:red", label="trained")
bar.plot(kept_before[order], range(n), "k.", markersize=4, label="before training")
bar.set_xlim(0, 1)
bar.set_xlabel("kept to the blank")
bar.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Conclusion
#
# A plain RNN must carry "Kerala" through a product of Jacobians, one per word in between, and in a
# short training it loses it beyond a few sentences. The LSTM carries it in its cell state, multiplied
# only by forget gates, and a few of its units learn to hold them closer to 1 across the filler
# sentences than their initial bias does; the GRU does the same with its update gate. Both must still
# *learn* that memory, and the longer the gap, the longer that takes: at 8 fillers this budget was not
# enough (measured above). Self-attention does not carry the place at all: it looks back at it.

# %% [markdown]
# ## Checks
#
# A change that breaks the task (the place no longer decides the answer), the models, the gates' long
# memory or the reading of the LSTM's weights breaks these.

# %%
# Training multiplied the best unit's memory of the place by 2.39 / 2.50 and the fifth best unit's stood
# at 1.8 / 1.65 times the best before training (seeds 0 / 1, `train` as here at fillers 4).
KEPT_FACTOR, FIFTH_FACTOR = 1.5, 1.3
# Accuracies at fillers 4, seeds 0 / 1 (seed 1 from a standalone script of the same settings): SimpleRNN
# 0.360 / 0.328, LSTM 0.882 / 0.860, GRU 0.733 / 0.864, attention 1.000 / 0.80; at fillers 0 all 0.93-1.
acc = {key: round(value, 3) for key, value in accuracy.items()}
gated = ("LSTM, forget_bias=3", "GRU, update_bias=2")
for label in MODELS:
    assert acc[label, 0] > 0.8, f"with no filler every model should find the language: {label} {acc[label, 0]}"
for label in gated:
    assert acc[label, 4] > 0.5, f"a gated cell should carry the place across 4 filler sentences: {label} {acc[label, 4]}"
    assert acc[label, 4] > acc["SimpleRNN", 4] + 0.2, (
        f"4 filler sentences should hurt the SimpleRNN far more than {label}: {acc['SimpleRNN', 4]} vs {acc[label, 4]}")
assert acc["self-attention", 4] > acc["SimpleRNN", 4] + 0.2, (
    f"attention should find the place across 4 fillers far better than the SimpleRNN: {acc['self-attention', 4]}")
assert difference < 1e-5, "the NumPy LSTM step should reproduce the Keras layer"
assert kept.max() > KEPT_FACTOR * kept_before.max(), (
    f"training should make some unit keep the place far longer than before: {kept.max():.3f} vs {kept_before.max():.3f}")
assert np.sort(kept)[-5] > FIFTH_FACTOR * kept_before.max(), (
    f"training should make several units the place's memory: fifth best {np.sort(kept)[-5]:.3f} vs {kept_before.max():.3f}")
assert all(spec4.answers[a] in spec4.fill_blank(article[0].numpy(), a) for a in answers.values())
print("All checks passed.")
