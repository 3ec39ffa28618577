"""A trained model as a TensorFlow SavedModel for serving (`python -m training.train --export`)."""

from __future__ import annotations

import pathlib
import shutil


def export_model(model, path) -> pathlib.Path:
    """A TensorFlow SavedModel whose `serve` signature takes int32 ids of any batch size and length."""
    import keras
    import tensorflow as tf

    path = pathlib.Path(path)
    if path.exists():
        shutil.rmtree(path)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve",
        fn=lambda tokens: model(tokens, training=False),
        input_signature=[tf.TensorSpec(shape=(None, None), dtype=tf.int32, name="tokens")],
    )
    archive.write_out(str(path), verbose=False)
    return path
