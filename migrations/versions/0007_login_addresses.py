"""count failed logins per network address

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 16:34:23.067057
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_addresses',
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('address')
    )


def downgrade() -> None:
    op.drop_table('login_addresses')
