"""invite tokens kept only as a hash: the links still open keep working

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 06:20:00
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

invite = sa.table("invite", sa.column("id", sa.Integer), sa.column("token", sa.String))


def upgrade() -> None:
    # Each stored token becomes its SHA-256 (hex, as bot.state.models.token_hash makes it):
    # a link sent before the upgrade is found by the hash of what it carries.
    connection = op.get_bind()
    for row_id, token in connection.execute(sa.select(invite.c.id, invite.c.token)).all():
        hashed = hashlib.sha256(token.encode("utf-8")).hexdigest()
        connection.execute(invite.update().where(invite.c.id == row_id).values(token=hashed))


def downgrade() -> None:
    # A hash cannot be turned back into its token: links still open stop working after a
    # downgrade (a begeleider makes a new one).
    pass
