"""give visits the id the phone made and who entered them

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 16:27:52.470538
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('visits', sa.Column('recorded_by_id', sa.Integer(), nullable=True))
    op.add_column('visits', sa.Column('client_id', sa.String(length=64), nullable=True))
    op.create_index('visit_client_id_per_recorder', 'visits', ['recorded_by_id', 'client_id'], unique=True,
                    postgresql_where=sa.text('client_id IS NOT NULL'))
    op.create_foreign_key('visits_recorded_by_id_fkey', 'visits', 'users', ['recorded_by_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    op.drop_constraint('visits_recorded_by_id_fkey', 'visits', type_='foreignkey')
    op.drop_index('visit_client_id_per_recorder', table_name='visits')
    op.drop_column('visits', 'client_id')
    op.drop_column('visits', 'recorded_by_id')
