"""Fitting the cry head on YAMNet embeddings (TensorFlow, training machines only)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from models.cry.head import Blend, CryHead
from models.training.patches import PatchSet
from models.training.renditions import is_laughter


@dataclass(frozen=True)
class HeadParams:
    hidden_units: int = 64
    dropout: float = 0.3
    l2: float = 1e-3
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    # Laughter and animal calls are the sounds nearest to crying and the rarest in our data: each
    # of their patches counts this many times in the loss, or a few hundred spoken words would
    # outweigh them and the head would learn "any voice at a baby's pitch is a cry".
    hard_negative_weight: float = 20.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_hard_negative(source: str, clip: str, hard_sources: Collection[str]) -> bool:
    return source in hard_sources or is_laughter(clip, is_cry=False)


def sample_weights(
    patches: PatchSet, params: HeadParams, hard_sources: Collection[str]
) -> np.ndarray:
    """Cries weighted to balance the classes; hard negatives weighted up (see HeadParams)."""
    labels = patches.labels
    cries, others = int((labels == 1).sum()), int((labels == 0).sum())
    hard = np.array(
        [
            not r.is_cry and is_hard_negative(r.source, r.clip, hard_sources)
            for r in patches.renditions
        ]
    )[patches.rendition]
    weights = np.where(labels == 1, others / max(cries, 1), 1.0)
    return np.asarray(weights * np.where(hard, params.hard_negative_weight, 1.0))


def fit_head(
    patches: PatchSet, params: HeadParams, seed: int, hard_sources: Collection[str]
) -> tuple[CryHead, dict[str, Any]]:
    """Train on the labelled patches (a cry rendition's patches without crying are left out)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    keep = patches.labels >= 0
    x = patches.embeddings[keep]
    y = patches.labels[keep].astype(np.float32)
    weights = sample_weights(patches, params, hard_sources)[keep]
    regulariser = tf.keras.regularizers.l2(params.l2)
    model = tf.keras.Sequential(
        [
            tf.keras.Input((x.shape[1],)),
            tf.keras.layers.Dropout(params.dropout),
            tf.keras.layers.Dense(
                params.hidden_units, activation="relu", kernel_regularizer=regulariser
            ),
            tf.keras.layers.Dropout(params.dropout),
            tf.keras.layers.Dense(1, kernel_regularizer=regulariser),
        ]
    )
    model.compile(
        tf.keras.optimizers.Adam(params.learning_rate),
        tf.keras.losses.BinaryCrossentropy(from_logits=True),
    )
    history = model.fit(
        x,
        y,
        sample_weight=weights,
        epochs=params.epochs,
        batch_size=params.batch_size,
        shuffle=True,
        verbose=0,
    )
    hidden_w, hidden_b = model.layers[1].get_weights()
    out_w, out_b = model.layers[3].get_weights()
    head = CryHead(hidden_w, hidden_b, out_w, out_b, Blend())
    info = {
        "patches": int(keep.sum()),
        "cry_patches": int((y == 1).sum()),
        "final_loss": round(float(history.history["loss"][-1]), 5),
    }
    return head, info
