"""The cry head: a small network on YAMNet's embedding that says "a baby is crying".

YAMNet already knows AudioSet's "Baby cry, infant cry" class, but it was trained on YouTube audio:
alone it misses band-limited phone recordings and cries deep in a noise machine's hiss. The head
is trained on our cries mixed into noise, reverberation and household sounds. Its logit is then
blended with YAMNet's own cry-class logit (``blend``): the pretrained class carries what 2 M
AudioSet clips taught about laughter, dogs or alarms, which our few hundred negatives cannot.

The weights are plain arrays (``.npz``) run with numpy: one 1024x64 product per patch costs
microseconds, and needs no second interpreter on the device.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.cry.backbone import BackboneOutput
from models.cry.errors import ModelLoadError

FloatArray = npt.NDArray[np.float32]
HEAD_ARRAYS = ("hidden_weights", "hidden_bias", "output_weights", "output_bias")
LOGIT_CLIP = 1e-4  # keeps log(p / (1 - p)) finite for YAMNet scores of exactly 0 or 1


def logit(p: npt.ArrayLike) -> FloatArray:
    clipped = np.clip(np.asarray(p, dtype=np.float32), LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    return np.asarray(np.log(clipped / (1.0 - clipped)), dtype=np.float32)


def sigmoid(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float32))), dtype=np.float32)


@dataclass(frozen=True)
class Blend:
    """score = sigmoid(head_weight * head logit + zero_shot_weight * cry-class logit + bias).

    ``cry_classes`` are YAMNet class indices whose highest score is the zero-shot cry logit
    (20 "Baby cry, infant cry" and its neighbours).
    """

    head_weight: float = 1.0
    zero_shot_weight: float = 0.0
    bias: float = 0.0
    cry_classes: tuple[int, ...] = (20,)

    def to_dict(self) -> dict[str, object]:
        return {
            "head_weight": self.head_weight,
            "zero_shot_weight": self.zero_shot_weight,
            "bias": self.bias,
            "cry_classes": list(self.cry_classes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Blend:
        """From the manifest's JSON; a non-number weight raises ValueError or TypeError."""
        classes = data.get("cry_classes", [20])
        if not isinstance(classes, list) or not all(isinstance(i, int) for i in classes):
            raise ValueError("blend.cry_classes must be a list of class indices")
        return cls(
            head_weight=float(data.get("head_weight", 1.0)),
            zero_shot_weight=float(data.get("zero_shot_weight", 0.0)),
            bias=float(data.get("bias", 0.0)),
            cry_classes=tuple(classes),
        )


def zero_shot_logit(class_scores: FloatArray, cry_classes: tuple[int, ...]) -> FloatArray:
    """The strongest of the cry classes, as a logit; works on one patch or a stack of them."""
    return logit(np.max(np.asarray(class_scores)[..., list(cry_classes)], axis=-1))


class CryHead:
    """One hidden ReLU layer over the embedding, then one logit."""

    def __init__(
        self,
        hidden_weights: FloatArray,
        hidden_bias: FloatArray,
        output_weights: FloatArray,
        output_bias: FloatArray,
        blend: Blend,
    ) -> None:
        if hidden_weights.ndim != 2 or hidden_weights.shape[1] != hidden_bias.shape[0]:
            raise ValueError("hidden weights and bias disagree in shape")
        if output_weights.reshape(-1).shape[0] != hidden_bias.shape[0]:
            raise ValueError("output weights do not match the hidden layer")
        self.hidden_weights = hidden_weights.astype(np.float32)
        self.hidden_bias = hidden_bias.astype(np.float32)
        self.output_weights = output_weights.reshape(-1).astype(np.float32)
        self.output_bias = float(np.asarray(output_bias).reshape(-1)[0])
        self.blend = blend

    @classmethod
    def load(cls, path: Path, blend: Blend) -> CryHead:
        try:
            with np.load(path) as arrays:
                parts = [np.asarray(arrays[name], dtype=np.float32) for name in HEAD_ARRAYS]
        except (OSError, KeyError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the cry head {path}: {exc}") from exc
        try:
            return cls(parts[0], parts[1], parts[2], parts[3], blend)
        except ValueError as exc:
            raise ModelLoadError(f"cry head {path} is malformed: {exc}") from exc

    def with_blend(self, blend: Blend) -> CryHead:
        return CryHead(
            self.hidden_weights,
            self.hidden_bias,
            self.output_weights,
            np.array([self.output_bias], dtype=np.float32),
            blend,
        )

    def save(self, path: Path) -> None:
        hidden_weights, hidden_bias, output_weights, output_bias = self.arrays()
        np.savez(
            path,
            hidden_weights=hidden_weights,
            hidden_bias=hidden_bias,
            output_weights=output_weights,
            output_bias=output_bias,
        )

    def arrays(self) -> tuple[FloatArray, ...]:
        bias = np.array([self.output_bias], dtype=np.float32)
        return (self.hidden_weights, self.hidden_bias, self.output_weights, bias)

    def head_logits(self, embeddings: FloatArray) -> FloatArray:
        """Head logits for (1024,) or (n, 1024) embeddings."""
        hidden = np.maximum(np.asarray(embeddings) @ self.hidden_weights + self.hidden_bias, 0.0)
        return np.asarray(hidden @ self.output_weights + self.output_bias, dtype=np.float32)

    def scores(self, embeddings: FloatArray, class_scores: FloatArray) -> FloatArray:
        """Blended cry probabilities for a stack of patches."""
        blended = (
            self.blend.head_weight * self.head_logits(embeddings)
            + self.blend.zero_shot_weight * zero_shot_logit(class_scores, self.blend.cry_classes)
            + self.blend.bias
        )
        return sigmoid(blended)

    def score(self, output: BackboneOutput) -> float:
        return float(self.scores(output.embedding, output.class_scores))
