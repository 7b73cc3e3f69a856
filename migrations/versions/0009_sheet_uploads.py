"""spreadsheet uploads kept between their dry run and their write

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 09:00:00.000000
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sheet_uploads',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('filename', sa.String(length=200), server_default='', nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index(op.f('ix_sheet_uploads_user_id'), 'sheet_uploads', ['user_id'], unique=False)
    op.create_index(op.f('ix_sheet_uploads_created_at'), 'sheet_uploads', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sheet_uploads_created_at'), table_name='sheet_uploads')
    op.drop_index(op.f('ix_sheet_uploads_user_id'), table_name='sheet_uploads')
    op.drop_table('sheet_uploads')
