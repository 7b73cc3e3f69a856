"""the login that started a patrol (its phone records the route)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 17:54:52.810825
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('patrols', sa.Column('started_by_id', sa.Integer(), nullable=True))
    op.create_foreign_key('patrols_started_by_id_fkey', 'patrols', 'users', ['started_by_id'], ['id'])


def downgrade() -> None:
    op.drop_constraint('patrols_started_by_id_fkey', 'patrols', type_='foreignkey')
    op.drop_column('patrols', 'started_by_id')
