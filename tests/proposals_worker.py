"""A worker process for tests/test_proposals_apply.py: applies approved proposals.

    python proposals_worker.py URL TENANT    print {"ready": true}, then apply the tenant's
                                             approved proposals in one batch (without
                                             embedding) and print {"applied": N}

The URL carries an application_name, so the test can find this process's session.
"""

from __future__ import annotations

import json
import sys

from learnloop.db import Database
from learnloop.embedders import LocalEmbedder
from learnloop.knowledge import Items
from learnloop.proposals import apply_approved


def main(url: str, tenant: str) -> None:
    db = Database(url, min_size=1, max_size=2)
    try:
        items = Items(db, LocalEmbedder())
        print(json.dumps({"ready": True}), flush=True)
        applied = apply_approved(db, items, batch=100, embed=False, tenant_id=tenant)
        print(json.dumps({"applied": applied}), flush=True)
    finally:
        db.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
