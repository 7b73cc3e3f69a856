"""one building, one code: a public code per building (its QR sticker) and per area (its
notice board), which phones are
public, where an issue came from (an officer, or a resident at a building's code), and the
resident reports counted for the rate limit

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:40:00.000000
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# 12 hex digits: 48 random bits each, drawn per row (a volatile default), so a code cannot
# be guessed from a building's number; unique, and printed on a sticker for years.
CODE = "substr(md5(random()::text || clock_timestamp()::text), 1, 12)"


def upgrade() -> None:
    op.add_column('buildings', sa.Column('public_code', sa.String(16), nullable=False,
                                         server_default=sa.text(CODE)))
    op.create_unique_constraint('buildings_public_code_key', 'buildings', ['public_code'])
    # A grid's or compound's notice board carries its area's code the same way.
    op.add_column('areas', sa.Column('public_code', sa.String(16), nullable=False, server_default=sa.text(CODE)))
    op.create_unique_constraint('areas_public_code_key', 'areas', ['public_code'])
    op.add_column('people', sa.Column('phone_public', sa.Boolean(), nullable=False, server_default='false'))
    op.add_column('issues', sa.Column('source', sa.String(16), nullable=False, server_default='officer'))
    op.create_check_constraint('issue_source_known', 'issues', "source IN ('officer', 'resident')")
    op.create_table(
        'resident_reports',
        sa.Column('id', sa.Integer(), primary_key=True),
        # A keyed hash of the sender's address: enough to count, not to find them.
        sa.Column('sender', sa.String(32), nullable=False),
        sa.Column('building_id', sa.Integer(), sa.ForeignKey('buildings.id', ondelete='CASCADE'), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index('ix_resident_reports_sender_at', 'resident_reports', ['sender', 'at'])
    op.create_index('ix_resident_reports_building_at', 'resident_reports', ['building_id', 'at'])


def downgrade() -> None:
    op.drop_table('resident_reports')
    op.drop_constraint('issue_source_known', 'issues')
    op.drop_column('issues', 'source')
    op.drop_column('people', 'phone_public')
    op.drop_constraint('areas_public_code_key', 'areas')
    op.drop_column('areas', 'public_code')
    op.drop_constraint('buildings_public_code_key', 'buildings')
    op.drop_column('buildings', 'public_code')
