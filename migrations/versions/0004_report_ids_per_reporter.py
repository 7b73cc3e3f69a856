"""make report ids unique per reporter and index issues by report time and reporter

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 15:06:54.642633
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint(op.f('issues_client_id_key'), 'issues', type_='unique')
    op.create_unique_constraint('issue_client_id_per_reporter', 'issues', ['reported_by_id', 'client_id'])
    op.create_index(op.f('ix_issues_reported_at'), 'issues', ['reported_at'], unique=False)
    op.create_index(op.f('ix_issues_reported_by_id'), 'issues', ['reported_by_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_issues_reported_by_id'), table_name='issues')
    op.drop_index(op.f('ix_issues_reported_at'), table_name='issues')
    op.drop_constraint('issue_client_id_per_reporter', 'issues', type_='unique')
    op.create_unique_constraint(op.f('issues_client_id_key'), 'issues', ['client_id'], postgresql_nulls_not_distinct=False)
