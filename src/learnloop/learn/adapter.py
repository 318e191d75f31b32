"""A tenant's embedding adapter: the frozen question embedding read through a linear map
learnt from what people clicked.

The adapter is a linear map ``W`` (one row per item, plus a bias) from the embedder's
question vector ``q`` to item scores, ``softmax(W q + b)``: each row is the item's
*adapted prototype*, the direction in the frozen embedding that its own clicked questions
point to, learnt by multinomial logistic regression on the tenant's (question vector,
clicked item) pairs. The L2 penalty (``1 / regularization``) pulls each row toward zero,
or, with ``scale`` above 0, toward the item's own unit vector times ``scale``: then few
pairs leave the map ranking like the cosine similarity to the items, and the pairs teach
it only where they differ. Where MiniLM puts two intents' questions close together, the
prototypes learn the few directions that tell them apart; the embedder itself is not
changed.

It is used only after it has proved itself on the tenant's own logs (``fit``): the
clicked pairs, oldest first, are split in time; a map fitted on the older part must rank
the clicked item first more often than the unadapted ranking (cosine similarity of the
question to the item's own vector) on the newer part, by a margin whose 95% lower bound is
above zero; then the map is refitted on every pair (warm-started) and stored with its
version, the embedder its vectors came from, and the held-out figures. With too few pairs,
or no significant gain, nothing is stored and the unadapted ranking stays.

>>> rng = np.random.default_rng(0)
>>> centres = np.eye(4, 8) * 3
>>> x = np.vstack([c + rng.normal(size=(40, 8)) for c in centres])
>>> y = np.repeat([10, 11, 12, 13], 40)
>>> a = train(x, y, regularization=10.0)
>>> a.items.tolist(), a.top(centres[2])
([10, 11, 12, 13], 12)
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

Array = np.ndarray[Any, Any]
MAX_ITERATIONS = 150


@dataclass(frozen=True)
class Adapter:
    """A fitted map: ``weights[n]`` is the adapted prototype of item ``items[n]``."""

    items: Array  # item ids, int64
    weights: Array  # (items, dimension) float32
    bias: Array  # (items,) float32
    version: int = 0
    embedder: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def dimension(self) -> int:
        return int(self.weights.shape[1])

    def probabilities(self, vector: Any) -> dict[int, float]:
        """P(item is the one clicked | question), over the items the adapter knows."""
        scores = self.weights @ np.asarray(vector, dtype=np.float32) + self.bias
        p = _softmax(scores[None, :])[0]
        return {int(i): float(v) for i, v in zip(self.items, p, strict=True)}

    def top(self, vector: Any) -> int:
        scores = self.weights @ np.asarray(vector, dtype=np.float32) + self.bias
        return int(self.items[int(np.argmax(scores))])

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        head = {"version": self.version, "embedder": self.embedder, "meta": self.meta}
        np.savez(
            out,
            items=self.items,
            weights=self.weights,
            bias=self.bias,
            head=np.frombuffer(json.dumps(head).encode(), dtype=np.uint8),
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, state: bytes) -> Adapter:
        with np.load(io.BytesIO(state), allow_pickle=False) as f:
            head = json.loads(f["head"].tobytes().decode())
            return cls(
                f["items"], f["weights"], f["bias"], head["version"], head["embedder"], head["meta"]
            )


@dataclass(frozen=True)
class Verdict:
    """What ``fit`` found: the adapter to store (None: refused) and why."""

    adapter: Adapter | None
    reason: str
    figures: dict[str, Any]


def train(
    x: Array,
    y: Array,
    *,
    regularization: float = 30.0,
    start: Adapter | None = None,
    weights: Array | None = None,
    item_ids: Array | None = None,
    item_vectors: Array | None = None,
    scale: float = 0.0,
) -> Adapter:
    """Multinomial logistic regression of the clicked item on the question vector, each
    pair counted ``weights`` times (1 each by default), each item's row shrunk toward its
    own unit vector (``item_ids``, ``item_vectors``) times ``scale``."""
    items = np.unique(y)
    index = np.searchsorted(items, y)
    n, d = len(items), x.shape[1]
    centre = _centres(items, d, item_ids, item_vectors, scale)
    w0 = _warm(start, items, d, centre)
    xs = np.asarray(x, dtype=np.float64)
    counts = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    lam = 1.0 / regularization
    rows = np.arange(len(index))

    def loss(w: Array) -> tuple[float, Array]:
        protos, bias = w[: n * d].reshape(n, d), w[n * d :]
        p = _softmax(xs @ protos.T + bias)
        value = -(counts * np.log(p[rows, index] + 1e-12)).sum()
        p[rows, index] -= 1.0
        p *= counts[:, None]
        pulled = protos - centre
        grad = np.concatenate([(p.T @ xs + lam * pulled).ravel(), p.sum(0)])
        return float(value + 0.5 * lam * (pulled**2).sum()), grad

    options = {"maxiter": MAX_ITERATIONS}
    with threadpool_limits(1):  # small products: threads only contend (20x slower seen)
        found = minimize(loss, w0, jac=True, method="L-BFGS-B", options=options).x
    weights = found[: n * d].reshape(n, d).astype(np.float32)
    return Adapter(items.astype(np.int64), weights, found[n * d :].astype(np.float32))


def fit(
    x: Array,
    y: Array,
    item_ids: Array,
    item_vectors: Array,
    *,
    embedder: str,
    version: int,
    min_pairs: int = 500,
    holdout: float = 0.2,
    regularization: float = 30.0,
    weights: Array | None = None,
    scale: float = 0.0,
) -> Verdict:
    """Fit on the older pairs, judge on the newer against the unadapted ranking, and
    refit on all when it wins (``x``, ``y``: question vectors and clicked items, oldest
    first; ``item_ids``, ``item_vectors``: every item the unadapted ranking ranks;
    ``weights``: what each pair counts, e.g. 1 / the chance its rank was looked at, so a
    click found low in the list counts for the clicks it stands for; ``scale``: each item's
    row is shrunk toward its own unit vector times this, see ``train``)."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    figures: dict[str, Any] = {"pairs": len(y), "min_pairs": min_pairs}
    if len(y) < min_pairs:
        return Verdict(None, f"{len(y)} clicked pairs, at least {min_pairs} needed", figures)
    cut = len(y) - max(1, round(holdout * len(y)))
    older = train(
        x[:cut],
        y[:cut],
        regularization=regularization,
        weights=w[:cut],
        item_ids=item_ids,
        item_vectors=item_vectors,
        scale=scale,
    )
    adapted = np.array([older.top(q) for q in x[cut:]]) == y[cut:]
    unadapted = _cosine_top(x[cut:], item_ids, item_vectors) == y[cut:]
    gain, low = _paired(adapted, unadapted, w[cut:])
    a_acc, u_acc = _mean(adapted, w[cut:]), _mean(unadapted, w[cut:])
    figures.update(
        held_out=len(y) - cut,
        adapted_acc1=a_acc,
        unadapted_acc1=u_acc,
        gain=gain,
        gain_low95=low,
    )
    if low <= 0.0:
        why = (
            f"on the {len(y) - cut} newest pairs it ranks the clicked item first"
            f" {a_acc:.1%} of the time against {u_acc:.1%} unadapted:"
            " no significant gain (95% lower bound of the gain <= 0)"
        )
        return Verdict(None, why, figures)
    final = train(
        x,
        y,
        regularization=regularization,
        start=older,
        weights=w,
        item_ids=item_ids,
        item_vectors=item_vectors,
        scale=scale,
    )
    meta = {**figures, "regularization": regularization, "dimension": int(x.shape[1])}
    meta["scale"] = scale
    adapter = Adapter(final.items, final.weights, final.bias, version, embedder, meta)
    why = f"held-out acc@1 {a_acc:.1%} against {u_acc:.1%} unadapted"
    return Verdict(adapter, why, figures)


def _mean(a: Array, w: Array) -> float:
    return float((a * w).sum() / w.sum())


def _paired(a: Array, b: Array, w: Array) -> tuple[float, float]:
    """The weighted mean of a - b and its 95% lower bound (Kish's effective size)."""
    d = a.astype(float) - b.astype(float)
    mean = _mean(d, w)
    n = w.sum() ** 2 / (w**2).sum()
    var = float((w * (d - mean) ** 2).sum() / w.sum())
    se = math.sqrt(var / (n - 1)) if n > 1 else math.inf
    return mean, mean - 1.96 * se


def _cosine_top(x: Array, item_ids: Array, item_vectors: Array) -> Array:
    norms = np.linalg.norm(item_vectors, axis=1, keepdims=True)
    unit = item_vectors / np.where(norms == 0, 1.0, norms)
    top: Array = np.asarray(item_ids)[np.argmax(x @ unit.T, axis=1)]
    return top


def _centres(
    items: Array, d: int, item_ids: Array | None, item_vectors: Array | None, scale: float
) -> Array:
    """What each item's row is shrunk toward: its unit vector times ``scale`` (zero for an
    item without a vector, or when ``scale`` is 0)."""
    centre = np.zeros((len(items), d))
    if scale == 0.0 or item_ids is None or item_vectors is None or len(item_ids) == 0:
        return centre
    vectors = np.asarray(item_vectors, dtype=np.float64)
    if vectors.shape[1] != d:
        return centre
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0, 1.0, norms)
    where = {int(i): n for n, i in enumerate(np.asarray(item_ids))}
    for n, item in enumerate(items):
        if int(item) in where:
            centre[n] = scale * unit[where[int(item)]]
    return centre


def _warm(start: Adapter | None, items: Array, d: int, centre: Array) -> Array:
    """The previous fit's rows where it knew the item, else the centres."""
    weights, bias = centre.copy(), np.zeros(len(items))
    if start is not None and start.dimension == d:
        where = {int(i): n for n, i in enumerate(start.items)}
        for n, item in enumerate(items):
            if int(item) in where:
                weights[n] = start.weights[where[int(item)]]
                bias[n] = start.bias[where[int(item)]]
    return np.concatenate([weights.ravel(), bias])


def _softmax(z: Array) -> Array:
    z = z - z.max(axis=1, keepdims=True)
    p: Array = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return p
