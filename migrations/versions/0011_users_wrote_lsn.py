"""where each user's last write stands in the primary's WAL, for reads from a replica

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 08:30:00.000000
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('wrote_lsn', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('users', 'wrote_lsn')
