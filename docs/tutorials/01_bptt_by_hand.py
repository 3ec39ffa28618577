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
# # Backpropagation through time by hand: dE3/dW of a three-step RNN
#
# *Run time: 18 s, measured with `python -m training.tutorials run 01` at commit 6f5e83b on the
# shared 2-core CPU machine (other jobs running, so an upper bound).*
#
# **What you will learn:**
# - how the loss at step 3, E3, depends on the recurrent weights W through s3, s2 and s1;
# - the chain rule at t = 3 written out term by term, as the article does, in NumPy;
# - that the sum of those terms is exactly what `tf.GradientTape` computes for Keras's `SimpleRNN`;
# - that `zoo.bptt.SimpleRNN`, whose backward pass is written out step by step, gives the same numbers;
# - why an earlier step's term carries one more Jacobian per step in between: the seed of vanishing
#   and exploding gradients.

# %% [markdown]
# ## Setup
#
# A vocabulary of 4 words, one-hot inputs, 3 hidden units, 3 steps. The article writes the RNN as
#
#     s_t = tanh(U x_t + W s_{t-1}),   y_t = softmax(V s_t),   E_t = -log y_t[target_t].
#
# Keras multiplies row vectors from the left, `s_t = tanh(x_t U + s_{t-1} W + b)`, with `U` the layer's
# `kernel` and `W` its `recurrent_kernel`; we use Keras's convention throughout so that the weights
# move into the layers unchanged.

# %%
import keras
import numpy as np
import tensorflow as tf

import zoo.bptt

keras.utils.set_random_seed(0)
np.set_printoptions(precision=5, suppress=True)

VOCAB, UNITS, STEPS = 4, 3, 3
rng = np.random.default_rng(0)
U = rng.normal(0, 0.8, (VOCAB, UNITS))  # input -> hidden (Keras: kernel)
W = rng.normal(0, 0.8, (UNITS, UNITS))  # hidden -> hidden (Keras: recurrent_kernel)
b = rng.normal(0, 0.1, UNITS)  # hidden bias
V = rng.normal(0, 0.8, (UNITS, VOCAB))  # hidden -> output (a Dense layer's kernel)
c = np.zeros(VOCAB)  # output bias

words = [2, 0, 3]  # the input sentence x1 x2 x3, as word ids
target3 = 1  # the word the model should predict at step 3
x = np.eye(VOCAB)[words]  # (3, 4) one-hot rows
print("x =\n", x)

# %% [markdown]
# ## The forward pass, step by step
#
# s0 is the state left by an earlier sentence (not zero, so that W acts at every one of the three steps).
# Each step mixes the new word into the state; the prediction at step 3 reads only s3.

# %%
s0 = np.tanh(rng.normal(0, 1, UNITS))
s = [s0]  # s[k] = s_k
for t in range(1, STEPS + 1):
    s.append(np.tanh(x[t - 1] @ U + s[t - 1] @ W + b))
    print(f"s{t} = {s[t]}")


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


y3 = softmax(s[3] @ V + c)
E3 = -np.log(y3[target3])
print(f"y3 = {y3}   E3 = {E3:.5f}")

# %% [markdown]
# ## The chain rule at t = 3
#
# W is used at every step, so E3 depends on it three times: through s3 directly, through s2 (which
# s3 reads) and through s1 (which s2 reads). The article's formula adds one term per step k:
#
#     dE3/dW = sum_{k=1..3}  dE3/dy3 · dy3/ds3 · (prod_{j=k+1..3} ds_j/ds_{j-1}) · ds_k/dW
#
# Each factor, in Keras's row-vector convention:
#
# - `dE3/dy3 · dy3/ds3`: softmax and cross-entropy together give `(y3 - onehot(target)) V^T`, a row of
#   3 numbers, dE3/ds3.
# - `ds_j/ds_{j-1}`: the Jacobian of one step. `s_j = tanh(a_j)` with `a_j = x_j U + s_{j-1} W + b`, so
#   `ds_j[a]/ds_{j-1}[b] = (1 - s_j[a]^2) W[b, a]`, the matrix `diag(1 - s_j^2) W^T`.
# - `ds_k/dW`, the "immediate" derivative (s_{k-1} held fixed): `ds_k[a]/dW[i, j] = (1 - s_k[a]^2)
#   s_{k-1}[i]` when a = j, else 0. Contracted with dE3/ds_k it gives the outer product
#   `s_{k-1}^T (dE3/ds_k * (1 - s_k^2))`.
#
# What to look for: the product of Jacobians has no factor for k = 3, one for k = 2 and two for k = 1.
# Every factor multiplies by `1 - s^2 <= 1` and by W.

# %%
onehot3 = np.eye(VOCAB)[target3]
dE3_ds3 = (y3 - onehot3) @ V.T  # dE3/dy3 · dy3/ds3
print("dE3/ds3 =", dE3_ds3)


def jacobian(j):
    """ds_j / ds_{j-1}: rows index s_j, columns s_{j-1}."""
    return np.diag(1 - s[j] ** 2) @ W.T


terms = {}
for k in range(1, STEPS + 1):
    product = np.eye(UNITS)
    for j in range(STEPS, k, -1):  # ds3/ds2 · ds2/ds1 ..., as many factors as steps between k and 3
        product = product @ jacobian(j)
    dE3_dsk = dE3_ds3 @ product
    terms[k] = np.outer(s[k - 1], dE3_dsk * (1 - s[k] ** 2))  # contracted with ds_k/dW
    factors = " · ".join(f"ds{j}/ds{j - 1}" for j in range(STEPS, k, -1)) or "(no Jacobian)"
    print(f"k = {k}: dE3/ds3 · {factors} · ds{k}/dW    (Frobenius norm {np.linalg.norm(terms[k]):.2e})")
    print(terms[k])

dE3_dW_by_hand = sum(terms.values())
print("dE3/dW = term 1 + term 2 + term 3 =\n", dE3_dW_by_hand)

# %% [markdown]
# The input weights U are shared across the steps too, and their gradient has the same three terms,
# with x_k in place of s_{k-1}:

# %%
dE3_dU_terms = {}
for k in range(1, STEPS + 1):
    product = np.eye(UNITS)
    for j in range(STEPS, k, -1):
        product = product @ jacobian(j)
    dE3_dU_terms[k] = np.outer(x[k - 1], (dE3_ds3 @ product) * (1 - s[k] ** 2))
    print(f"dE3/dU, term k = {k}: norm {np.linalg.norm(dE3_dU_terms[k]):.2e}")
dE3_dU_by_hand = sum(dE3_dU_terms.values())

# %% [markdown]
# ## Check 1: `tf.GradientTape` on Keras's SimpleRNN
#
# The same weights in a Keras model: a `SimpleRNN` returning every state, then a `Dense` softmax read at
# step 3. The tape differentiates E3 by automatic differentiation, knowing nothing of our terms.

# %%
def keras_gradients(rnn_layer):
    dense = keras.layers.Dense(VOCAB)
    inputs = tf.constant(x[None], tf.float32)  # (batch 1, 3 steps, 4)
    rnn_layer.build(inputs.shape)
    rnn_layer.set_weights([U, W, b])  # kernel, recurrent_kernel, bias
    dense.build((None, UNITS))
    dense.set_weights([V, c])
    with tf.GradientTape() as tape:
        states = rnn_layer(inputs, initial_state=[tf.constant(s0[None], tf.float32)], training=True)  # (1, 3, units)
        logits = dense(states[:, 2])  # step 3
        loss = keras.losses.sparse_categorical_crossentropy(tf.constant([target3]), logits, from_logits=True)[0]
    grad_U, grad_W = tape.gradient(loss, [rnn_layer.cell.kernel, rnn_layer.cell.recurrent_kernel])
    return float(loss), grad_U.numpy(), grad_W.numpy(), states.numpy()[0]


E3_tape, dU_tape, dW_tape, states_tape = keras_gradients(keras.layers.SimpleRNN(UNITS, return_sequences=True))
print(f"E3: by hand {E3:.6f}, Keras {E3_tape:.6f}")
print("dE3/dW from the tape =\n", dW_tape)
print("largest difference from the hand-written sum:", np.abs(dW_tape - dE3_dW_by_hand).max())

# %% [markdown]
# ## Check 2: `zoo.bptt.SimpleRNN`, backpropagation through time written out
#
# `zoo.bptt.SimpleRNN` is Keras's layer with its training loop replaced by an explicit backward loop (the
# general form of what we did above: `dL/da_t = dL/dh_t * (1 - h_t^2)`, `dL/dW = sum_t h_{t-1}^T dL/da_t`;
# see docs/bptt.md). It takes Keras's weights unchanged. Its own loop runs when `training=True`.

# %%
E3_zoo, dU_zoo, dW_zoo, states_zoo = keras_gradients(zoo.bptt.SimpleRNN(UNITS, return_sequences=True))
print("dE3/dW from zoo.bptt =\n", dW_zoo)
print("largest difference from the hand-written sum:", np.abs(dW_zoo - dE3_dW_by_hand).max())

# %% [markdown]
# ## Conclusion
#
# The gradient of the loss at step 3 is a sum over the steps that came before it, and the term of an
# earlier step carries one more Jacobian `diag(1 - s^2) W^T` per step in between. Here the terms are
# three small matrices; over a hundred steps, with every factor's norm below 1, the early terms vanish
# (tutorial 02), and with norms above 1 they explode (tutorial 03).

# %% [markdown]
# ## Checks
#
# A change that breaks backpropagation through time — in the written-out layer or in this derivation —
# makes the hand-written terms and the two layers disagree.

# %%
assert np.allclose(np.stack(s[1:]), states_tape, atol=1e-5), "the forward pass by hand should match Keras's SimpleRNN"
assert abs(E3 - E3_tape) < 1e-5, f"E3 by hand {E3} should equal Keras's {E3_tape}"
assert np.allclose(dE3_dW_by_hand, dW_tape, atol=1e-5), "the sum of the three BPTT terms should equal the tape's dE3/dW"
assert np.allclose(dE3_dU_by_hand, dU_tape, atol=1e-5), "the BPTT terms for U should equal the tape's dE3/dU"
assert np.allclose(dW_zoo, dW_tape, atol=1e-5), "zoo.bptt.SimpleRNN's written-out backward pass should give the tape's dE3/dW"
assert np.allclose(dU_zoo, dU_tape, atol=1e-5), "zoo.bptt.SimpleRNN should give the tape's dE3/dU"
assert min(np.linalg.norm(terms[k]) for k in (1, 2, 3)) > 0, "W acts at every step: each of the three terms is nonzero"
assert not np.allclose(terms[3], dE3_dW_by_hand, atol=1e-6), (
    "the earlier steps' terms should matter: dE3/dW is not the last step's term alone")
print("All checks passed.")
