"""notifications: the bell's rows, their e-mail and webhook deliveries, users' e-mail and
units' webhooks

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 13:00:00.000000
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

KINDS = ("routed", "referred", "due", "overdue", "wish_claimed", "wish_overdue", "digest")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.add_column('users', sa.Column('email', sa.String(254), nullable=False, server_default=''))
    op.add_column('units', sa.Column('webhook_url', sa.String(500), nullable=False, server_default=''))
    op.create_table(
        'notifications',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('key', sa.String(120), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('title', sa.String(300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False, server_default=''),
        sa.Column('issue_id', sa.Integer(), sa.ForeignKey('issues.id', ondelete='SET NULL'), nullable=True),
        sa.Column('wish_id', sa.Integer(), sa.ForeignKey('wishes.id', ondelete='SET NULL'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint('user_id', 'key', name='notification_once_per_user'),
        sa.CheckConstraint(_in('kind', KINDS), name='notification_kind_known'),
    )
    op.create_table(
        'deliveries',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('key', sa.String(160), nullable=False),
        sa.Column('channel', sa.String(16), nullable=False),
        sa.Column('target', sa.String(500), nullable=False),
        sa.Column('subject', sa.String(300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False, server_default=''),
        sa.Column('notification_id', sa.Integer(), sa.ForeignKey('notifications.id', ondelete='CASCADE'),
                  nullable=True),
        sa.Column('status', sa.String(16), nullable=False, server_default='pending'),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('next_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('error', sa.Text(), nullable=False, server_default=''),
        sa.UniqueConstraint('key', 'channel', name='delivery_once'),
        sa.CheckConstraint(_in('channel', ('email', 'webhook')), name='delivery_channel_known'),
        sa.CheckConstraint(_in('status', ('pending', 'sent', 'failed')), name='delivery_status_known'),
    )
    op.create_index('ix_deliveries_pending', 'deliveries', ['next_at'], postgresql_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_table('deliveries')
    op.drop_table('notifications')
    op.drop_column('units', 'webhook_url')
    op.drop_column('users', 'email')
