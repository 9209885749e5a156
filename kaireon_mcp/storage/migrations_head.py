"""The Alembic head revision, known without importing Alembic.

Every process start runs ``Database.migrate()``. On a database already at head (nearly every
start) running Alembic meant importing it (with Mako and Pygments) and scanning the script
directory only to learn that nothing is to be done. ``at_head`` answers that with one query.
``tests/storage/test_migrations_head.py`` pins :data:`HEAD_REVISION` to the head of Alembic's
``ScriptDirectory``, so adding a migration without bumping it fails the suite.
"""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

__all__ = ["HEAD_REVISION", "VERSION_TABLE", "at_head"]

#: the newest file under ``migrations/versions``
HEAD_REVISION = "0002"
VERSION_TABLE = "alembic_version"


def at_head(conn: Connection) -> bool:
    """True when the version table exists and names exactly the head revision.

    Checks the table before reading it: on PostgreSQL a failed SELECT would abort the
    transaction the upgrade then needs.
    """
    if not inspect(conn).has_table(VERSION_TABLE):
        return False
    versions = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return list(versions) == [HEAD_REVISION]
