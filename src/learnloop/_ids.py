"""Time-ordered ids: UUID version 7 (RFC 9562), so an id tells when it was made."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from uuid import UUID


def uuid7(now_ms: int | None = None) -> UUID:
    """A new UUIDv7: 48 bits of Unix milliseconds, then 74 random bits.

    >>> u = uuid7(1_700_000_000_000); (u.version, created_at(u).year)
    (7, 2023)
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms & (2**48 - 1)) << 80 | int.from_bytes(os.urandom(10)) & (2**80 - 1)
    value = value & ~(0xF << 76) | (0x7 << 76)  # version 7
    value = value & ~(0x3 << 62) | (0x2 << 62)  # RFC 4122 variant
    return UUID(int=value)


def created_at(value: UUID) -> datetime | None:
    """When a UUIDv7 was made; None for other versions."""
    if value.version != 7:
        return None
    return datetime.fromtimestamp((value.int >> 80) / 1000, tz=UTC)
