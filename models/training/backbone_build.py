"""The shipped YAMNet: Google's TFLite file with its embedding listed as a second output.

The embedding (``yamnet_frames/global_average_pooling2d/Mean``) is an intermediate tensor; an
interpreter returns it only when told to keep every intermediate tensor alive, which costs
memory on the device. Rewriting the flatbuffer's output list (TensorFlow's own flatbuffer
tools, weights untouched) makes it a normal output. The model's third output, the log-mel
patch, is dropped: nothing reads it.
"""

from __future__ import annotations

from pathlib import Path

from models.cry.backbone import CLASS_COUNT, EMBEDDING_SIZE

EMBEDDING_TENSOR = "yamnet_frames/global_average_pooling2d/Mean"
SCORES_TENSOR = "Identity"
BACKBONE_FILE = "yamnet_embedding.tflite"
CLASS_MAP_FILE = "yamnet_class_map.csv"


class BackboneBuildError(RuntimeError):
    """The source model is not the YAMNet this code expects."""


def build_backbone(source: Path, destination: Path) -> Path:
    """Write a copy of ``source`` whose outputs are [class scores, embedding]."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    graph = model.subgraphs[0]
    by_name = {tensor.name.decode(): index for index, tensor in enumerate(graph.tensors)}
    missing = [name for name in (SCORES_TENSOR, EMBEDDING_TENSOR) if name not in by_name]
    if missing:
        raise BackboneBuildError(f"{source} has no tensor(s) {missing}: not YAMNet?")
    shapes = {
        name: list(graph.tensors[by_name[name]].shape) for name in (SCORES_TENSOR, EMBEDDING_TENSOR)
    }
    if shapes != {SCORES_TENSOR: [1, CLASS_COUNT], EMBEDDING_TENSOR: [1, EMBEDDING_SIZE]}:
        raise BackboneBuildError(f"{source} has unexpected output shapes {shapes}")
    graph.outputs = [by_name[SCORES_TENSOR], by_name[EMBEDDING_TENSOR]]
    destination.parent.mkdir(parents=True, exist_ok=True)
    flatbuffer_utils.write_model(model, str(destination))
    return destination
