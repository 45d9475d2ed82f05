"""The hand-written parts of the model card (architecture, limitations)."""

from __future__ import annotations

STATIC_SECTIONS = [
    "## Architecture",
    "",
    "Four 3x3 convolution blocks (8, 16, 32, 48 filters; batch norm, ReLU, 2x2 max pooling "
    "after the first three), global average pooling, dropout, one logit unit. The runtime "
    "applies the sigmoid, so the int8 output levels are spread over the logit instead of "
    "crowding near 1.0 where the threshold lives. Full-integer int8 TFLite (int8 input and "
    "output, batch of one), quantised with a representative set of training windows.",
    "",
    "## Known limitations",
    "",
    "- **The clip-level F1 target (0.93) is not met on the test split.** The held-out home "
    "group `home:laugh_1` (88 clips of baby laughter) is scored as crying in most clips: "
    "laughter is the closest non-cry sound, training saw only the 20 clips of `home:laugh_2`, "
    "and the validation split (which picks the threshold) holds no laughter at all, so the "
    "threshold could not learn to reject it. ESC-50 sirens and cats are the other false "
    "positives. Ranking is better than the decision: overall ROC AUC meets its target.",
    "- **False alerts on the night (target <= 1 per hour) and median onset latency (target "
    "<= 1.5 s) are not met on the 2-hour night**: most false alerts are the same unseen "
    "laughter, the rest a burst of speech or a cat; the onset threshold that keeps laughter "
    "and sirens out is high, so quiet cries in noise take a few windows to reach it.",
    "- Tried and not shipped: a wider speed range for non-cries (0.6-1.4x) and a random "
    "spectral tilt, retrained with the same seed, raised ROC AUC on esc50 (0.92) and home "
    "recordings (0.98) but chose a lower threshold on validation (0.87), where unseen "
    "laughter was called crying more often (false-positive rate 0.89): with no laughter in "
    "the validation split, nothing could tell that model's threshold apart. A threshold "
    "chosen with laughter in view (out-of-fold scores of the training groups) would cut "
    "false alerts but cannot reach the F1 target alone: even the best threshold for the "
    "shipped model, read off the test split for diagnosis only, gives home recordings an F1 "
    "of 0.71. More recordings of laughter (several babies) are what is missing.",
    "- The detector scores a window every 0.1 s; training drew its windows every 0.25 s "
    "(the weights do not depend on the hop: each window is scored on its own).",
    "- Cries come from three sources only; most are donateacry phone recordings (8 kHz), so "
    "the model sees cries only below 3.8 kHz by design and has heard few real nurseries.",
    "- Home recordings come from two cry groups and three non-cry groups; their per-source "
    "numbers rest on one held-out group each and are noisy.",
    "- Babies who whimper or fuss softly, and other infants' sounds (cooing, laughter) close "
    "to crying, are the expected failure modes; so are TV shows with crying babies.",
    "- The night benchmark is synthesized: real cries mixed into synthesized and recorded "
    "backgrounds, not a recorded night.",
]
