"""interaction analytics index

A covering index for the intelligence layer's aggregations (contact-policy suppression, cap
simulation, offer performance, drift windows): every analytic query filters a tenant, a time
range and whether the row is an impression, and reads only the columns listed here, so both
backends can answer from the index alone instead of visiting ~1M wide table rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: ``is_impression`` leads so that only queries naming it (the analytics ones) can use this index;
#: a per-customer count that happens to read only these columns keeps its (tenant, customer) index
KEY = ["is_impression", "tenant_id", "timestamp"]
PAYLOAD = [
    "channel_id", "customer_id", "interaction_type", "classification", "offer_id", "category_id",
    "conversion_value",
]  # fmt: skip


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_ih_analytics", "interactions", KEY, postgresql_include=PAYLOAD)
    else:
        op.create_index("ix_ih_analytics", "interactions", KEY + PAYLOAD)


def downgrade() -> None:
    op.drop_index("ix_ih_analytics", table_name="interactions")
