"""YAMNet, the pretrained AudioSet classifier the cry head listens through.

One call scores a 0.975 s patch of 16 kHz audio and returns both what YAMNet itself hears (a
sigmoid score for each of its 521 AudioSet classes) and its 1,024-value embedding, the input of
its last layer, which the cry head is trained on. The shipped copy of the model lists the
embedding as a second output (``nursery-model`` builds it from Google's file), so the interpreter
needs no ``experimental_preserve_all_tensors`` (which keeps every intermediate tensor alive).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.cry.errors import ModelLoadError

FloatArray = npt.NDArray[np.float32]

SAMPLE_RATE = 16_000
PATCH_SAMPLES = 15_600  # 0.975 s: 96 frames of 10 ms plus the 25 ms of the last frame
CLASS_COUNT = 521
EMBEDDING_SIZE = 1024


@dataclass(frozen=True)
class BackboneOutput:
    class_scores: FloatArray  # (521,) sigmoid scores, AudioSet ontology order
    embedding: FloatArray  # (1024,)


def read_class_names(path: Path) -> list[str]:
    """Display names from YAMNet's class map (``index,mid,display_name``)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        names = [row["display_name"] for row in sorted(rows, key=lambda r: int(r["index"]))]
    except (OSError, KeyError, ValueError) as exc:
        raise ModelLoadError(f"cannot read the AudioSet class map {path}: {exc}") from exc
    if len(names) != CLASS_COUNT:
        raise ModelLoadError(f"class map {path} lists {len(names)} classes, need {CLASS_COUNT}")
    return names


def fit_patch(samples: FloatArray) -> FloatArray:
    """The last ``PATCH_SAMPLES`` samples, zero-padded in front when there are fewer."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if len(samples) >= PATCH_SAMPLES:
        return samples[-PATCH_SAMPLES:]
    return np.pad(samples, (PATCH_SAMPLES - len(samples), 0))


class YamnetBackbone:
    """A TFLite YAMNet with outputs [class scores (1, 521), embedding (1, 1024)]."""

    def __init__(self, model_path: Path, num_threads: int = 1) -> None:
        from models.cry.runtime import interpreter_class

        try:
            self._interpreter: Any = interpreter_class()(
                model_path=str(model_path), num_threads=num_threads
            )
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"cannot load the backbone {model_path}: {exc}") from exc
        inputs = self._interpreter.get_input_details()
        outputs = {
            tuple(d["shape"][-1:]): d["index"] for d in self._interpreter.get_output_details()
        }
        if len(inputs) != 1 or int(inputs[0]["shape"][-1]) != PATCH_SAMPLES:
            raise ModelLoadError(f"{model_path} does not take one {PATCH_SAMPLES}-sample patch")
        if (CLASS_COUNT,) not in outputs or (EMBEDDING_SIZE,) not in outputs:
            raise ModelLoadError(
                f"{model_path} must output {CLASS_COUNT} class scores and the "
                f"{EMBEDDING_SIZE}-value embedding (build it with `nursery-model backbone`)"
            )
        self._input_index = inputs[0]["index"]
        self._scores_index = outputs[(CLASS_COUNT,)]
        self._embedding_index = outputs[(EMBEDDING_SIZE,)]

    def run(self, patch: FloatArray) -> BackboneOutput:
        """Score one patch (16 kHz mono in [-1, 1]); shorter input is zero-padded in front."""
        self._interpreter.set_tensor(self._input_index, fit_patch(patch).reshape(1, -1))
        self._interpreter.invoke()
        # Copies: the interpreter reuses its output buffers on the next invoke.
        scores = np.array(self._interpreter.get_tensor(self._scores_index), dtype=np.float32)
        embedding = np.array(self._interpreter.get_tensor(self._embedding_index), dtype=np.float32)
        return BackboneOutput(scores.reshape(-1), embedding.reshape(-1))


def patch_starts(n_samples: int, hop_samples: int) -> list[int]:
    """Start offsets of full patches every hop; one (zero-padded) patch for a short clip."""
    if n_samples <= PATCH_SAMPLES:
        return [0]
    starts = list(range(0, n_samples - PATCH_SAMPLES + 1, hop_samples))
    if starts[-1] + PATCH_SAMPLES < n_samples:  # the clip's tail gets a patch of its own
        starts.append(n_samples - PATCH_SAMPLES)
    return starts
