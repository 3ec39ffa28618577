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
# *DRAFT, NOT PASSING YET: run as a plain script (`MPLBACKEND=Agg PYTHONPATH=. python
# docs/tutorials/drafts/04_long_term_dependency.py`, seed 0) it took 6.6 min wall / 3.5 min CPU on the
# loaded shared machine, over the runner's 180 s; its Checks failed at fillers 0 (LSTM 0.69, GRU 0.047:
# 60 steps are too few). At fillers 4: SimpleRNN 0.227, LSTM(forget_bias=3) 0.860, GRU (update_bias 0)
# 0.073, self-attention 1.000; the LSTM and attention answer Malayalam; NumPy f_t step matches the layer
# (1.7e-07). Move to docs/tutorials/ once it fits and passes; then state the runner's time here.*
#
# **What you will learn:**
# - how the article's sentence "Jane was born in Kerala. ... Jane is very fluent in ___" becomes a task
#   (`kerala_cloze`) whose gap you choose: the number of filler sentences;
# - that with no filler every model finds the language, and that with filler sentences in between the
#   plain `SimpleRNN` falls behind the LSTM, the GRU and self-attention;
# - how to make every trained model answer the article's own sentence (`spec.fill_blank`);
# - how to read the LSTM's forget gate f_t from its weights, token by token, and see it hold the place
#   across the filler sentences.

# %% [markdown]
# ## Setup
#
# `datasets.load_task("kerala_cloze", ...)` yields token ids left-padded with `<pad>`, so the last step
# is the blank, and a class id over 16 languages: chance is 1/16. The models come from the zoo's
# registry (`zoo.build_model`) with one label read at the last step (`output="last_class"`). Sizes are
# tiny so that the notebook runs in a couple of minutes on a CPU.
#
# The LSTM is built with `forget_bias=3`: the project found that initialization decides long-gap
# recall, and that Keras's default forget-gate bias of 1 (the gate starts at sigma(1) = 0.73, so the
# memory of the place halves every two steps or so) can leave an LSTM at chance where a bias of 3
# (sigma(3) = 0.95) or chrono initialization learns.

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

import datasets
import zoo

keras.utils.set_random_seed(0)
plt.rcParams["figure.dpi"] = 80

FILLERS = (0, 4)        # filler sentences between the place and the question
UNITS, BATCH = 16, 32
STEPS = {0: 60, 4: 200}  # training steps per filler length (no filler: an easy task)
MODELS = {
    "SimpleRNN": ("simple_rnn", {}),
    "LSTM (forget_bias=3)": ("lstm", {"forget_bias": 3.0, "implementation": "keras"}),
    "GRU": ("gru", {"implementation": "keras"}),
    "self-attention": ("self_attention", {"num_heads": 2}),
}
print("registered models:", ", ".join(zoo.list_models()))
_, spec0 = datasets.load_task("kerala_cloze", "test", BATCH, fillers=3)
print("chance:", 1 / spec0.num_classes, "  answers:", ", ".join(spec0.answers))


def train(name, kwargs, fillers, seed=0):
    """Build a zoo model for kerala_cloze with `fillers` filler sentences, fit it, return (model, accuracy, spec)."""
    keras.utils.set_random_seed(seed)
    train_ds, spec = datasets.load_task("kerala_cloze", "train", BATCH, seed, fillers=fillers)
    test_ds, _ = datasets.load_task("kerala_cloze", "test", 300, fillers=fillers, eval_size=300)
    model = zoo.build_model(name, vocabulary_size=spec.vocabulary_size, output="last_class",
                            num_classes=spec.num_classes, sequence_length=spec.sequence_length, units=UNITS, **kwargs)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train_ds, steps_per_epoch=STEPS[fillers], epochs=1, verbose=0)
    _, accuracy = model.evaluate(test_ds, verbose=0)
    return model, accuracy, spec, test_ds

# %% [markdown]
# ## Train every model at every gap
#
# One `model.fit` per model and filler length, plain Keras; the accuracy is on the test split.

# %%
accuracy, trained = {}, {}
for fillers in FILLERS:
    for label, (name, kwargs) in MODELS.items():
        model, acc, spec, test_ds = trained[label, fillers] = train(name, kwargs, fillers)
        accuracy[label, fillers] = acc
        print(f"fillers {fillers} (T = {spec.sequence_length:3d})  {label:22s} test accuracy {acc:.3f}")

# %% [markdown]
# ## Accuracy against the gap
#
# What to look for: at 0 fillers every line starts near 1; with filler sentences in between, the
# SimpleRNN drops towards the chance line while the gated cells and attention stay well above it.

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
for label in MODELS:
    ax.plot(FILLERS, [accuracy[label, f] for f in FILLERS], "o-", label=label)
ax.axhline(1 / 16, color="grey", linestyle="--", label="chance (1/16)")
ax.set_xlabel("filler sentences between the place and the blank")
ax.set_ylabel("test accuracy")
ax.set_xticks(FILLERS)
ax.set_ylim(0, 1.05)
ax.legend(fontsize=8)
ax.set_title("kerala_cloze: who still knows the language?")
plt.show()

# %% [markdown]
# ## The article's sentence, answered by every model
#
# Test example 0 is the article's own sentence for every filler length. Each model's answer is the
# argmax of its logits; `spec.fill_blank` writes it into the blank.

# %%
F = FILLERS[-1]
answers = {}
for label in MODELS:
    model, _, spec, test_ds = trained[label, F]
    inputs, targets = next(iter(test_ds))
    ids = inputs[0].numpy()
    answers[label] = int(np.argmax(model.predict(inputs[:1], verbose=0)[0]))
    print(f"{label:22s} {spec.fill_blank(ids, answers[label])}")
print("right answer:", spec.answer_word(int(targets[0])))

# %% [markdown]
# ## The LSTM's forget gate over the sentence
#
# A Keras LSTM keeps its gates in one kernel: `kernel` (inputs, 4 units), `recurrent_kernel`
# (units, 4 units) and `bias` (4 units), in the order input, forget, cell, output. Step by step in
# NumPy, from the layer's input (the embedded tokens):
#
#     z_t = x_t W + h_{t-1} U + b,  i, f, g, o = split(z_t),  f_t = sigmoid(f)
#     c_t = f_t * c_{t-1} + sigmoid(i) * tanh(g),  h_t = sigmoid(o) * tanh(c_t)
#
# The last h must equal what the layer itself returns (checked below). What to look for: the mean
# f_t stays near 1 over the filler sentences (the cell keeps what it has: the place) and is free to
# drop where new information arrives.

# %%
lstm_model, _, spec, test_ds = trained["LSTM (forget_bias=3)", F]
lstm_layer = next(layer for layer in lstm_model.layers if isinstance(layer, keras.layers.LSTM))
inputs, _ = next(iter(test_ds))
x = keras.Model(lstm_model.inputs, lstm_layer.input).predict(inputs[:1], verbose=0)[0]  # (T, embedding)
h_keras = keras.Model(lstm_model.inputs, lstm_layer.output).predict(inputs[:1], verbose=0)[0]
W, U, b = (np.asarray(w) for w in lstm_layer.get_weights())
n = U.shape[0]
sigmoid = lambda v: 1 / (1 + np.exp(-v))
h, c, forget = np.zeros(n), np.zeros(n), []
for x_t in x:
    z = x_t @ W + h @ U + b
    i, f, g, o = sigmoid(z[:n]), sigmoid(z[n:2 * n]), np.tanh(z[2 * n:3 * n]), sigmoid(z[3 * n:])
    c = f * c + i * g
    h = o * np.tanh(c)
    forget.append(f)
forget = np.array(forget)  # (T, units)
ids = inputs[0].numpy()
words = spec.vocabulary
real = ids != 0  # skip the left padding
tokens = [words[t] for t in ids[real]]
mean_f = forget[real].mean(axis=1)
print(f"numpy h_T vs the layer's: max difference {np.abs(h - h_keras).max():.2e}")

fig, ax = plt.subplots(figsize=(10, 3.5))
ax.plot(mean_f, "o-")
ax.set_xticks(range(len(tokens)))
ax.set_xticklabels(tokens, rotation=90, fontsize=7)
ax.set_ylabel("mean forget gate f_t")
ax.set_ylim(0, 1)
ax.set_title("The trained LSTM's forget gate over the article's sentence")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Conclusion
#
# A plain RNN must carry "Kerala" through a product of Jacobians, one per filler word, and it fades.
# The LSTM carries it in its cell state, multiplied only by a forget gate that it has learnt to hold
# near 1; the GRU does the same with its update gate; self-attention does not carry it at all, it
# looks back at it in one hop. How the gates start matters: see the project's long-term experiment
# for the default forget bias against 3 and chrono.

# %% [markdown]
# ## Checks
#
# A change that breaks the task (the place no longer decides the answer), the models, or the gates'
# long memory breaks these.

# %%
chance = 1 / 16
long_gap = FILLERS[-1]
assert all(accuracy[label, 0] > 0.8 for label in MODELS), (
    f"with no filler every model should find the language: {[round(accuracy[l, 0], 3) for l in MODELS]}")
gated = {label: accuracy[label, long_gap] for label in MODELS if label != "SimpleRNN"}
assert max(gated.values()) > 5 * chance, (
    f"a gated cell or attention should stay far above chance across {long_gap} fillers: {gated}")
assert max(gated.values()) > accuracy["SimpleRNN", long_gap] + 0.15, (
    f"the long gap should hurt the SimpleRNN more than the best gated/attention model: "
    f"{accuracy['SimpleRNN', long_gap]:.3f} vs {gated}")
assert np.abs(h - h_keras).max() < 1e-4, "the NumPy LSTM step should reproduce the Keras layer"
assert mean_f.min() > 0 and mean_f.max() < 1 and mean_f.mean() > 0.5, (
    f"the forget gate of a forget_bias=3 LSTM should mostly keep its memory: mean {mean_f.mean():.3f}")
assert all(spec.answers[a] in spec.fill_blank(ids, a) for a in answers.values()), "fill_blank should write the answer"
print("All checks passed.")
