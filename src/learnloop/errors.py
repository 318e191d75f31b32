"""The one exception tree of learnloop.

    LearnLoopError                 every error the library raises on purpose
    ├── ConfigurationError         settings that cannot work (bad DATABASE_URL, unknown embedder)
    ├── DatabaseError              the database failed or cannot be reached
    ├── EmbedderError              the embedding model or service failed
    │   └── EmbeddingMismatchError vectors in the store come from another model or dimension
    ├── LLMError                   the language model service failed (HTTP 503)
    ├── VectorStoreError           Qdrant or Chroma failed or cannot be reached (HTTP 503)
    ├── InvalidInput               the caller sent something that breaks a rule (HTTP 422)
    │   └── ImportRejected         a file with bad rows, nothing stored (its report attached)
    ├── NotFound                   the thing named does not exist in this tenant (HTTP 404)
    ├── Conflict                   the request clashes with what is stored (HTTP 409)
    ├── AuthError                  missing, unknown or revoked API key (HTTP 401)
    ├── Forbidden                  the API key lacks the scope the request needs (HTTP 403)
    └── RateLimited                over a rate limit; retry after ``retry_after`` s (HTTP 429)

Lower-level errors (psycopg, httpx, torch) are translated at the adapter boundary and
raised ``from`` the original, so a caller only ever catches ``LearnLoopError``: the
database's once, in ``db.database.Database.connection`` (OperationalError -> DatabaseError,
DataError -> InvalidInput, IntegrityError -> Conflict).
"""

from __future__ import annotations

from typing import Any


class LearnLoopError(Exception):
    """learnloop could not do what was asked."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.__class__.__name__)

    @property
    def message(self) -> str:
        return str(self)


class ConfigurationError(LearnLoopError):
    """The settings cannot work; check DATABASE_URL and the LEARNLOOP_* variables."""

    code = "configuration_error"


class DatabaseError(LearnLoopError):
    """The database failed or cannot be reached."""

    status_code = 503
    code = "database_unavailable"


class EmbedderError(LearnLoopError):
    """The embedding model or service failed."""

    status_code = 503
    code = "embedder_unavailable"


class EmbeddingMismatchError(EmbedderError):
    """The stored vectors were made by another embedder; re-embed before searching."""

    status_code = 409
    code = "embedding_mismatch"


class VectorStoreError(LearnLoopError):
    """The vector store (Qdrant, Chroma) failed or cannot be reached."""

    status_code = 503
    code = "vector_store_unavailable"


class InvalidInput(LearnLoopError):
    """The request breaks a rule; fix the fields named in the message."""

    status_code = 422
    code = "invalid_input"


class ImportRejected(InvalidInput):
    """The file has bad rows and nothing was stored; fix them or use skip_bad_rows."""

    code = "import_rejected"

    def __init__(self, message: str, report: Any) -> None:
        self.report = report  # an ingest.ImportReport: every bad row, with its reason
        super().__init__(message)


class LLMError(LearnLoopError):
    """The language model service failed or answered nothing usable; check LEARNLOOP_LLM_*."""

    status_code = 503
    code = "llm_unavailable"


class NotFound(LearnLoopError):
    """Nothing with that id exists in this tenant."""

    status_code = 404
    code = "not_found"


class Conflict(LearnLoopError):
    """The request clashes with what is already stored."""

    status_code = 409
    code = "conflict"


class AuthError(LearnLoopError):
    """Send a valid API key in the Authorization header: 'Bearer ll_...'."""

    status_code = 401
    code = "unauthorized"


class Forbidden(LearnLoopError):
    """This API key may not do that; use a key with the scope the message names."""

    status_code = 403
    code = "forbidden"


class RateLimited(LearnLoopError):
    """Too many requests; wait the seconds in Retry-After, then try again."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str | None = None, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
