"""Any embeddings service that speaks the OpenAI API (POST {base_url}/embeddings)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np

from learnloop.errors import EmbedderError
from learnloop.ports import Vectors


class OpenAIEmbedder:
    """Embeddings over HTTP. The dimension is learned from the first answer when not given."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 256,
        timeout: float = 30.0,
    ) -> None:
        self.name = f"openai:{model}"
        self.model = model
        self.requested_dimensions = dimensions
        self.batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self.dimension = dimensions or 0  # 0: not known yet, learned from the probe below
        if not self.dimension:
            try:
                self.dimension = int(self._request(["dimension probe"]).shape[1])
            except BaseException:
                self._client.close()
                raise

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batches = [
            self._request(list(texts[i : i + self.batch_size]))
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.vstack(batches).astype(np.float32, copy=False)

    def embed_query(self, text: str) -> Vectors:
        vector: Vectors = self._request([text])[0]
        return vector

    def close(self) -> None:
        self._client.close()

    def _request(self, texts: list[str]) -> Vectors:
        payload: dict[str, object] = {"model": self.model, "input": texts}
        if self.requested_dimensions:
            payload["dimensions"] = self.requested_dimensions
        try:
            response = self._client.post("/embeddings", json=payload)
            response.raise_for_status()
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            vectors = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        except httpx.HTTPStatusError as exc:
            raise EmbedderError(
                f"the embeddings service answered {exc.response.status_code}: "
                f"{exc.response.text[:300]}"
            ) from exc
        except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
            raise EmbedderError(
                f"the embeddings service at {self._client.base_url} failed: {exc}"
            ) from exc
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise EmbedderError(
                f"the embeddings service sent {len(vectors)} vectors for {len(texts)} texts"
            )
        if self.dimension and vectors.shape[1] != self.dimension:
            raise EmbedderError(
                f"the embeddings service sent vectors of {vectors.shape[1]} dimensions, but "
                f"{self.name} is configured for {self.dimension}; does it honour 'dimensions'?"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        result: Vectors = (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
        return result
