"""The database adapter: the embedded server, the pool, the migrations."""

from learnloop.db.database import Database
from learnloop.db.migrate import available, migrate

__all__ = ["Database", "available", "migrate"]
