"""What an API key may do: its scopes, and the rate limit it may carry.

    admin   manage keys, tenant settings, learning settings and experiments; and all of write
    write   store knowledge and what happened (items, imports, events, recommend, ...); and
            all of read and beacon
    read    read data (items, analytics, proposals, ...), never change it
    beacon  only POST /v1/beacon (a key a public web page may carry)

>>> sorted(granted(["write"]))
['beacon', 'read', 'write']
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from learnloop.errors import InvalidInput

Scope = Literal["read", "write", "admin", "beacon"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
IMPLIES: dict[str, frozenset[str]] = {
    "admin": frozenset({"admin", "write", "read", "beacon"}),
    "write": frozenset({"write", "read", "beacon"}),
    "read": frozenset({"read"}),
    "beacon": frozenset({"beacon"}),
}


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``per_second`` requests a second on average, ``burst`` at once."""

    per_second: float
    burst: int


@dataclass(frozen=True)
class KeyGrant:
    """What an authenticated key may do, for the request that sent it."""

    tenant_id: str
    key_id: str
    scopes: frozenset[str]
    rate: RateLimit | None

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes


def granted(scopes: Iterable[str]) -> frozenset[str]:
    """Every scope the given ones imply."""
    return frozenset().union(*(IMPLIES[scope] for scope in scopes))


def check_scopes(scopes: Iterable[str]) -> list[Scope]:
    """The scopes, deduplicated in a fixed order; InvalidInput for none or an unknown one."""
    given = list(scopes)
    unknown = [s for s in given if s not in SCOPES]
    if unknown or not given:
        raise InvalidInput(f"scopes: use one or more of {', '.join(SCOPES)} (got {given!r})")
    return [s for s in SCOPES if s in given]


def check_rate(per_second: float | None, burst: int | None) -> RateLimit | None:
    """A key's own rate limit: both given, or neither (the server's default applies)."""
    if per_second is None and burst is None:
        return None
    if per_second is None or burst is None:
        raise InvalidInput("give both rate_per_second and rate_burst, or neither")
    if not (math.isfinite(per_second) and 0 < per_second <= 1e6) or not 1 <= burst <= 1_000_000:
        raise InvalidInput("rate_per_second: 0 < r <= 1e6; rate_burst: 1 <= b <= 1000000")
    return RateLimit(float(per_second), int(burst))
