"""add configurable issue categories, keep issue photos in the database, and time failed logins

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 14:03:11.516285
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('issue_categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('position', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    # The categories patrols use today; administrators change the list afterwards.
    categories = sa.table("issue_categories", sa.column("code", sa.String), sa.column("name", sa.String),
                          sa.column("position", sa.SmallInteger))
    op.bulk_insert(categories, [
        {"code": name, "name": name, "position": position}
        for position, name in enumerate(
            ("环境卫生", "垃圾分类", "违章搭建", "占道经营", "道路设施", "安全隐患", "绿化", "其他"), 1
        )
    ])
    # Photo rows until now only named files that were never kept; the photos move into
    # the database, so there is nothing to carry over.
    op.execute("DELETE FROM issue_photos")
    op.add_column('issue_photos', sa.Column('data', sa.LargeBinary(), nullable=False))
    op.add_column('issue_photos', sa.Column('display', sa.LargeBinary(), nullable=False))
    op.add_column('issue_photos', sa.Column('width', sa.Integer(), nullable=False))
    op.add_column('issue_photos', sa.Column('height', sa.Integer(), nullable=False))
    op.add_column('issue_photos', sa.Column('size', sa.Integer(), nullable=False))
    op.create_index(op.f('ix_issue_photos_event_id'), 'issue_photos', ['event_id'], unique=False)
    op.drop_column('issue_photos', 'path')
    op.add_column('users', sa.Column('tried_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('users', 'tried_at')
    # The photos themselves cannot go back to files that never existed: their rows go.
    op.execute("DELETE FROM issue_photos")
    op.add_column('issue_photos', sa.Column('path', sa.VARCHAR(length=300), autoincrement=False, nullable=False))
    op.drop_index(op.f('ix_issue_photos_event_id'), table_name='issue_photos')
    op.drop_column('issue_photos', 'size')
    op.drop_column('issue_photos', 'height')
    op.drop_column('issue_photos', 'width')
    op.drop_column('issue_photos', 'display')
    op.drop_column('issue_photos', 'data')
    op.drop_table('issue_categories')
