"""The TFLite interpreter, imported lazily: LiteRT first, then the legacy tflite-runtime."""

from __future__ import annotations

import importlib
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.cry.errors import ModelLoadError, RuntimeMissingError

LOG = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float32]

# (module, install hint) in order of preference.
INTERPRETER_MODULES = (
    ("ai_edge_litert.interpreter", "pip install ai-edge-litert"),
    ("tflite_runtime.interpreter", "pip install tflite-runtime"),
)


def interpreter_class() -> Any:
    """The first importable ``Interpreter`` class, else an error saying what to install."""
    failures = []
    for module_name, _hint in INTERPRETER_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            failures.append(f"{module_name}: {exc}")
            continue
        LOG.debug("using TFLite interpreter from %s", module_name)
        return module.Interpreter
    hints = " or ".join(f"`{hint}`" for _module, hint in INTERPRETER_MODULES)
    raise RuntimeMissingError(
        f"no TFLite runtime is installed; install one with {hints} (tried: {'; '.join(failures)})"
    )


class TFLiteScorer:
    """Scores one normalised window at a time with an int8 (or float) TFLite model."""

    def __init__(
        self, model_path: Path, num_threads: int = 1, output_is_logit: bool = False
    ) -> None:
        self._output_is_logit = output_is_logit
        interpreter_type = interpreter_class()
        try:
            self._interpreter = interpreter_type(
                model_path=str(model_path), num_threads=num_threads
            )
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"cannot load TFLite model {model_path}: {exc}") from exc
        input_detail = self._interpreter.get_input_details()[0]
        output_detail = self._interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in input_detail["shape"])
        self._input_index = input_detail["index"]
        self._output_index = output_detail["index"]
        self._input_dtype = input_detail["dtype"]
        self._input_scale, self._input_zero = input_detail["quantization"]
        self._output_scale, self._output_zero = output_detail["quantization"]
        self._output_dtype = output_detail["dtype"]

    def _quantise(self, window: FloatArray) -> npt.NDArray[Any]:
        if self._input_dtype == np.float32:
            return window.astype(np.float32)
        info = np.iinfo(self._input_dtype)
        quantised = np.round(window / self._input_scale + self._input_zero)
        return np.asarray(np.clip(quantised, info.min, info.max), dtype=self._input_dtype)

    def score(self, window: FloatArray) -> float:
        """Cry probability in [0, 1] for one (window_frames, n_mels) window."""
        self._interpreter.set_tensor(
            self._input_index, self._quantise(window).reshape(self.input_shape)
        )
        self._interpreter.invoke()
        raw = float(self._interpreter.get_tensor(self._output_index).reshape(-1)[0])
        if self._output_dtype != np.float32:
            raw = (raw - self._output_zero) * self._output_scale
        return 1.0 / (1.0 + math.exp(-raw)) if self._output_is_logit else raw

    def score_many(self, windows: FloatArray) -> FloatArray:
        return np.array([self.score(window) for window in windows], dtype=np.float32)
