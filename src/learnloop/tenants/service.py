"""Tenants, and the API keys that each belong to one tenant. Keys are stored hashed."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from learnloop._sql import load_queries
from learnloop.errors import AuthError, Conflict, InvalidInput, NotFound
from learnloop.ports import Store
from learnloop.tenants.scopes import KeyGrant, RateLimit, Scope, check_rate, check_scopes, granted

Q = load_queries("learnloop.tenants")
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
KEY_PREFIX = "ll_"
MAX_CACHED_KEYS = 10_000


class Tenant(BaseModel):
    tenant_id: str
    name: str
    created_at: datetime


class ApiKey(BaseModel):
    """An API key as listed: never the secret itself."""

    key_id: str
    name: str
    scopes: list[Scope]
    rate_per_second: float | None = None
    rate_burst: int | None = None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewApiKey(ApiKey):
    """A key just made: ``key`` is shown this once and stored only as a hash."""

    key: str


class Tenants:
    def __init__(self, db: Store):
        self.db = db

    def create(self, tenant_id: str, name: str | None = None) -> Tenant:
        _check_tenant_id(tenant_id)
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "name": name or tenant_id}
            row = conn.execute(Q["create_tenant"], params).fetchone()
        if row is None:
            raise Conflict(f"tenant {tenant_id!r} already exists")
        return Tenant.model_validate(row)

    def ensure(self, tenant_id: str, name: str | None = None) -> Tenant:
        """The tenant, created first if it does not exist."""
        try:
            return self.create(tenant_id, name)
        except Conflict:
            return self.get(tenant_id)

    def get(self, tenant_id: str) -> Tenant:
        with self.db.connection() as conn:
            row = conn.execute(Q["get_tenant"], {"tenant_id": tenant_id}).fetchone()
        if row is None:
            raise NotFound(f"no tenant {tenant_id!r}; create it with 'learnloop init --tenant'")
        return Tenant.model_validate(row)

    def list(self) -> list[Tenant]:
        with self.db.connection() as conn:
            return [Tenant.model_validate(r) for r in conn.execute(Q["list_tenants"]).fetchall()]


class ApiKeys:
    """API keys, stored hashed. A key that authenticated is remembered for ``cache_seconds``
    (so most requests skip the database); revoking a key forgets it at once in this process,
    and other processes stop accepting it within ``cache_seconds``."""

    def __init__(self, db: Store, *, cache_seconds: float = 5.0):
        self.db = db
        self.cache_seconds = cache_seconds
        self._seen: dict[str, tuple[float, KeyGrant]] = {}  # key -> (when, grant)
        self._lock = threading.Lock()

    def create(
        self,
        tenant_id: str,
        name: str = "",
        scopes: Sequence[str] = ("admin",),
        rate: RateLimit | None = None,
    ) -> NewApiKey:
        """A new key; ``scopes`` say what it may do (default: everything, as keys made before
        scopes could), ``rate`` its own limit (default: the server's)."""
        key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        if rate is not None:
            rate = check_rate(rate.per_second, rate.burst)
        params = {
            "tenant_id": tenant_id,
            "key_id": key_id,
            "key_hash": _hash(key),
            "name": name,
            "scopes": check_scopes(scopes),
            "rate_per_second": rate.per_second if rate else None,
            "rate_burst": rate.burst if rate else None,
        }
        with self.db.connection() as conn:
            row = conn.execute(Q["create_key"], params).fetchone()
        return NewApiKey.model_validate({**(row or {}), "key": key})

    def list(self, tenant_id: str) -> list[ApiKey]:
        with self.db.connection() as conn:
            rows = conn.execute(Q["list_keys"], {"tenant_id": tenant_id}).fetchall()
        return [ApiKey.model_validate(row) for row in rows]

    def revoke(self, tenant_id: str, key_id: str) -> ApiKey:
        with self.db.connection() as conn:
            params = {"tenant_id": tenant_id, "key_id": key_id}
            row = conn.execute(Q["revoke_key"], params).fetchone()
        if row is None:
            raise NotFound(f"no API key {key_id!r} in this tenant")
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v[1].key_id != key_id}
        return ApiKey.model_validate(row)

    def cached(self, key: str) -> KeyGrant | None:
        """The grant of a key that authenticated in the last ``cache_seconds``; no I/O."""
        seen = self._seen.get(key)
        if seen is None or time.monotonic() - seen[0] >= self.cache_seconds:
            return None
        return seen[1]

    def authenticate(self, key: str) -> str:
        """The tenant a live key belongs to; AuthError for anything else."""
        return self.grant(key).tenant_id

    def grant(self, key: str) -> KeyGrant:
        """What a live key may do (its tenant, scopes and rate limit); AuthError for anything
        else."""
        if not key.startswith(KEY_PREFIX):
            raise AuthError("that is not a learnloop API key; keys start with 'll_'")
        with self.db.connection() as conn:
            row = conn.execute(Q["authenticate"], {"key_hash": _hash(key)}).fetchone()
        if row is None:
            raise AuthError("unknown or revoked API key; create one with 'learnloop keys create'")
        grant = KeyGrant(
            tenant_id=str(row["tenant_id"]),
            key_id=str(row["key_id"]),
            scopes=granted(row["scopes"]),
            rate=check_rate(row["rate_per_second"], row["rate_burst"]),
        )
        with self._lock:
            if len(self._seen) >= MAX_CACHED_KEYS:
                self._seen.clear()
            self._seen[key] = (time.monotonic(), grant)
        return grant


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _check_tenant_id(tenant_id: str) -> None:
    if not TENANT_ID.match(tenant_id):
        raise InvalidInput(
            f"tenant id {tenant_id!r}: use 1-63 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
