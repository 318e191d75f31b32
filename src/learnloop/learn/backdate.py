"""Spreading a simulated tenant's activity over the weeks before now.

A simulation (``learnloop demo``) runs thousands of interactions in a minute; the
dashboard's charts are by day, so they would show one point. ``spread`` moves the
impressions logged since a time evenly over the ``days`` before now, in the order they
were logged, with their question vectors, outcomes and events (each by its impression's
shift, so what followed an impression keeps its delay). Only for a simulated tenant:
it rewrites when things happened.
"""

from __future__ import annotations

from datetime import datetime

from learnloop._sql import load_queries
from learnloop.ports import Store

Q = load_queries("learnloop.learn")


def spread(db: Store, tenant_id: str, since: datetime, days: int) -> tuple[int, int]:
    """Spread the tenant's impressions logged since ``since`` over the ``days`` before now;
    returns how many impressions and events moved."""
    with db.transaction() as conn:
        conn.execute(Q["spread_months"], {"days": days}).fetchall()
        params = {"tenant_id": tenant_id, "since": since, "days": days}
        row = conn.execute(Q["spread_impressions"], params).fetchone()
    assert row is not None
    return int(row["impressions"]), int(row["events"])


def database_now(db: Store) -> datetime:
    """The database's clock (impressions are stamped by it)."""
    with db.connection() as conn:
        row = conn.execute(Q["database_now"]).fetchone()
    assert row is not None
    found: datetime = row["now"]
    return found
