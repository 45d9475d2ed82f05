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
    "laughter is the closest non-cry sound, training saw only the 20 clips of `home:laugh_2` "
    '(breathy, hardly voiced, unlike the voiced "ha-ha" of laugh_1), and the validation '
    "split (which picks the threshold) holds no laughter at all. ESC-50 cats, dogs, sirens and "
    "horns are the other false positives. Ranking is better than the decision: overall ROC "
    "AUC meets its target.",
    "- **Episode recall on the 2-hour test night (target >= 0.95) is not met**: 5 of 56 "
    "episodes are missed, quiet cries under loud backgrounds; the previous model found 55 but "
    "raised 5 false alerts in the same night against this model's 1. On the 1-hour CI night "
    "both find 26 of 27.",
    "- Changes from the previous model: half of the non-cry training clips play 1.6-2.4x "
    "faster (adult voices at a baby's pitch) and a third of all mixed clips get a steady "
    "electrical whine. The previous model raised a cry alert in 4 of 28 quiet rooms with a "
    "whine at the room's level (5 of 28 at +10 dB); this one in none. Chosen on validation "
    "(F1 0.973 against 0.982, one clip of a two-cry stratum), the robustness check and the "
    "night's false alerts; the other variants' test figures were seen before choosing, so "
    "the test split is not untouched by this choice (docs/cry-detector.md).",
    "- Tried this round and not shipped (same seed, same pipeline, test split read only "
    "after training): synthesized laughter (voiced syllables in rhythmic bouts) as negatives, "
    "alone or with synthesized sirens, horns and beeps, and a 1-D temporal stage after the "
    "convolutions (66 KB): none lowered the false positives on `home:laugh_1` (false-positive "
    "rates 0.72-0.91) - the synthesized laughter did not transfer to the real recording.",
    "- The detector scores a window every 0.1 s; training drew its windows every 0.25 s "
    "(the weights do not depend on the hop: each window is scored on its own).",
    "- Cries come from three sources only; most are donateacry phone recordings (8 kHz), so "
    "the model sees cries only below 3.8 kHz by design and has heard few real nurseries.",
    "- Home recordings come from two cry groups and three non-cry groups; their per-source "
    "numbers rest on one held-out group each and are noisy: retrains differing only in their "
    "augmentation gave `home:laugh_1` false-positive rates from 0.42 to 0.94.",
    "- Recorded adult laughter as extra training data (`nursery-model fetch-laughter`, 26 "
    "clips) was tried with three training seeds on this split: `home:laugh_1` ranked under the "
    "home cries (home ROC AUC 0.997-1.000, against 0.857-0.937 without it), but the threshold, "
    "chosen on a validation split with no baby laughter, still let 35-73 of its 88 clips "
    "through; not shipped (docs/cry-detector.md).",
    "- Babies who whimper or fuss softly, and other infants' sounds (cooing, laughter) close "
    "to crying, are the expected failure modes; so are TV shows with crying babies.",
    "- The night benchmark is synthesized: real cries mixed into synthesized and recorded "
    "backgrounds, not a recorded night.",
]
