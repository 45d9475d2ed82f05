"""The shipped cry model (``cry_detector.tflite``), its manifest and its model card."""

from __future__ import annotations

from pathlib import Path

ARTIFACTS_DIR = Path(__file__).resolve().parent
MANIFEST_PATH = ARTIFACTS_DIR / "cry_detector.json"
MODEL_CARD_PATH = ARTIFACTS_DIR / "MODEL_CARD.md"
