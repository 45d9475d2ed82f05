"""The small CNN and its full-integer int8 TFLite export (TensorFlow imported lazily)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

LOG = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float32]
REPRESENTATIVE_WINDOWS = 400


@dataclass(frozen=True)
class NetworkParams:
    conv_filters: tuple[int, ...] = (8, 16, 32, 48)
    kernel_size: int = 3
    dropout: float = 0.3
    learning_rate: float = 2e-3
    batch_size: int = 128
    epochs: int = 10
    label_smoothing: float = 0.05  # keeps logits finite so confident errors stay rankable

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_model(
    input_shape: tuple[int, int], params: NetworkParams, batch_size: int | None = None
) -> Any:
    """Conv/BN/ReLU/pool blocks, global average pooling and one logit unit.

    The model outputs a logit, not a probability: an int8 sigmoid output has only a handful of
    levels near 1.0, where the decision threshold lives; the runtime applies the sigmoid.
    """
    import tensorflow as tf

    inputs = tf.keras.Input(shape=(*input_shape, 1), batch_size=batch_size, name="log_mel_window")
    x = inputs
    for index, filters in enumerate(params.conv_filters):
        x = tf.keras.layers.Conv2D(filters, params.kernel_size, padding="same", use_bias=False)(x)
        x = tf.keras.layers.BatchNormalization()(x)
        x = tf.keras.layers.ReLU()(x)
        if index < len(params.conv_filters) - 1:
            x = tf.keras.layers.MaxPooling2D(2)(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = tf.keras.layers.Dropout(params.dropout)(x)
    outputs = tf.keras.layers.Dense(1, name="cry_logit")(x)
    return tf.keras.Model(inputs, outputs, name="cry_cnn")


def train_model(
    model: Any,
    train: tuple[FloatArray, FloatArray],
    validation: tuple[FloatArray, FloatArray],
    params: NetworkParams,
    seed: int,
) -> dict[str, list[float]]:
    import tensorflow as tf

    x_train, y_train = train
    positives = float(np.mean(y_train))
    # Balance the classes so that neither dominates the loss.
    class_weight = {0: 0.5 / (1.0 - positives), 1: 0.5 / positives}
    model.compile(
        optimizer=tf.keras.optimizers.Adam(params.learning_rate),
        loss=tf.keras.losses.BinaryCrossentropy(
            from_logits=True, label_smoothing=params.label_smoothing
        ),
        metrics=[tf.keras.metrics.AUC(name="auc", from_logits=True)],
    )
    schedule = tf.keras.callbacks.LearningRateScheduler(
        lambda epoch, lr: params.learning_rate * 0.5 * (1 + np.cos(np.pi * epoch / params.epochs))
    )
    history = model.fit(
        x_train[..., None],
        y_train,
        validation_data=(validation[0][..., None], validation[1]),
        batch_size=params.batch_size,
        epochs=params.epochs,
        class_weight=class_weight,
        shuffle=True,
        callbacks=[schedule],
        verbose=2,
    )
    del seed  # the global seeds are set by the caller before the model is built
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def export_int8(model: Any, params: NetworkParams, representative: FloatArray) -> bytes:
    """Full-integer quantisation (int8 in and out) of a batch-of-one copy of ``model``."""
    import tensorflow as tf

    single = build_model(tuple(model.input_shape[1:3]), params, batch_size=1)
    single.set_weights(model.get_weights())

    def samples() -> Iterator[list[FloatArray]]:
        for window in representative[:REPRESENTATIVE_WINDOWS]:
            yield [window[None, ..., None].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(single)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return bytes(converter.convert())
