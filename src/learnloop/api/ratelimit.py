"""Token buckets, kept in this process: one per API key, one per impression at the beacon.

A bucket holds up to ``burst`` tokens and gains ``per_second`` a second; a request takes
one (a beacon, one per event). With several server processes each keeps its own buckets,
so the limit a client meets is the per-process one times the processes it reaches.

>>> buckets = Buckets()
>>> limit = RateLimit(per_second=1.0, burst=2)
>>> [buckets.take("k", limit, now=0.0) for _ in range(3)]
[0.0, 0.0, 1.0]
>>> buckets.take("k", limit, now=1.0)
0.0
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

from learnloop.errors import InvalidInput, RateLimited
from learnloop.settings import Settings
from learnloop.tenants import KeyGrant, RateLimit

MAX_BUCKETS = 100_000  # the least recently used go first (a full bucket is no loss)


class Buckets:
    """Token buckets by name, safe to share between threads."""

    def __init__(self, max_buckets: int = MAX_BUCKETS) -> None:
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when
        self._lock = threading.Lock()

    def take(self, name: str, limit: RateLimit, tokens: int = 1, now: float | None = None) -> float:
        """Take ``tokens`` from the bucket ``name``: 0.0 if they were there, else the seconds
        until they will be (nothing is taken then)."""
        return self._take(name, limit, tokens, now, keep=False)

    def peek(self, name: str, limit: RateLimit, tokens: int = 1, now: float | None = None) -> float:
        """What ``take`` would answer, taking nothing."""
        return self._take(name, limit, tokens, now, keep=True)

    def _take(
        self, name: str, limit: RateLimit, tokens: int, now: float | None, keep: bool
    ) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            have, when = self._buckets.pop(name, (float(limit.burst), now))
            have = min(float(limit.burst), have + (now - when) * limit.per_second)
            wait = 0.0 if have >= tokens else (tokens - have) / limit.per_second
            self._buckets[name] = (have - tokens if wait == 0.0 and not keep else have, now)
            if len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        return wait


class Limits:
    """The app's rate limits: each key's (its own, else ``key_default``; none if neither) and
    each impression's at the beacon (``beacon``, counted in events)."""

    def __init__(self, key_default: RateLimit | None, beacon: RateLimit) -> None:
        self.key_default = key_default
        self.beacon = beacon
        self.keys = Buckets()
        self.impressions = Buckets()

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        key_default = None
        if settings.key_rate_per_second > 0:
            burst = settings.key_rate_burst or max(1, math.ceil(settings.key_rate_per_second))
            key_default = RateLimit(settings.key_rate_per_second, burst)
        beacon = RateLimit(settings.beacon_events_per_second, settings.beacon_event_burst)
        return cls(key_default, beacon)

    def throttle_key(self, grant: KeyGrant) -> None:
        """RateLimited if the key's bucket is empty."""
        limit = grant.rate or self.key_default
        if limit is None:
            return
        wait = self.keys.take(f"{grant.tenant_id}/{grant.key_id}", limit)
        if wait:
            raise RateLimited(
                f"this API key is over its rate limit ({limit.per_second:g} requests a "
                f"second, {limit.burst} at once); retry in {wait:.2g} s",
                retry_after=wait,
            )

    def throttle_beacon(self, events_by_impression: dict[str, int]) -> None:
        """RateLimited (and nothing taken from any bucket) if one impression is over its
        limit; else each impression's events are taken from its bucket."""
        limit = self.beacon
        too_many = [i for i, n in events_by_impression.items() if n > limit.burst]
        if too_many:
            raise InvalidInput(f"at most {limit.burst} events a beacon for one impression")
        waits = {i: self.impressions.peek(i, limit, n) for i, n in events_by_impression.items()}
        over = {i: wait for i, wait in waits.items() if wait}
        if over:
            impression, wait = max(over.items(), key=lambda pair: pair[1])
            raise RateLimited(
                f"impression {impression} is over the beacon's limit ({limit.burst} events, "
                f"then {limit.per_second:g} a second); retry in {wait:.2g} s",
                retry_after=wait,
            )
        for impression, n in events_by_impression.items():
            self.impressions.take(impression, limit, n)
