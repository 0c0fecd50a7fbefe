"""housekeeping: when each purge last ran, so that it runs once per period across processes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "housekeeping",
        sa.Column("job", sa.String(length=40), primary_key=True),
        sa.Column("last_run", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("housekeeping")
