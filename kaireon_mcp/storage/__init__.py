"""Persistence: async SQLAlchemy tables, tenant-scoped repositories, migrations, demo seed."""
