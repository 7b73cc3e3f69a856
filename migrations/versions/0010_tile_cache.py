"""a vector tile cache shared by every app process, emptied where a write touches it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 06:00:00.000000
"""

from __future__ import annotations

from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# Which tile layers a write to each table can change, and how to find the changed places:
# the rows' own geometry, or their building's.
TABLES = {
    'buildings': ("ARRAY['buildings', 'coverage']", 'SELECT r.geom FROM {rows} r'),
    'areas': ("ARRAY['areas']", 'SELECT r.geom FROM {rows} r'),
    'issues': ("ARRAY['issues']", 'SELECT r.geom FROM {rows} r'),
    'households': ("ARRAY['coverage']", 'SELECT b.geom FROM {rows} r JOIN buildings b ON b.id = r.building_id'),
    'visits': ("ARRAY['coverage']", 'SELECT b.geom FROM {rows} r JOIN households h ON h.id = r.household_id '
                                    'JOIN buildings b ON b.id = h.building_id'),
}


def _function(table: str) -> str:
    layers, changed = TABLES[table]

    def forget(rows: str) -> str:
        return (f"DELETE FROM tile_cache t USING ({changed.format(rows=rows)}) c(geom) "
                f"WHERE t.layer = ANY({layers}) AND t.envelope && c.geom;")

    # One statement per write statement, over its transition tables (a COPY of 100k rows too).
    return f"""
CREATE FUNCTION tile_cache_forget_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    {forget('old_rows')}
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    {forget('new_rows')}
  END IF;
  RETURN NULL;
END $$;"""


def upgrade() -> None:
    op.create_table(
        'tile_cache',
        sa.Column('layer', sa.String(length=16), nullable=False),
        sa.Column('variant', sa.String(length=80), nullable=False),
        sa.Column('z', sa.SmallInteger(), nullable=False),
        sa.Column('x', sa.Integer(), nullable=False),
        sa.Column('y', sa.Integer(), nullable=False),
        sa.Column('envelope', Geometry(geometry_type='POLYGON', srid=4326, dimension=2, spatial_index=False,
                                       from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=False),
        sa.Column('etag', sa.String(length=32), nullable=False),
        sa.Column('made_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('layer', 'variant', 'z', 'x', 'y'),
        prefixes=['UNLOGGED'],
    )
    op.create_geospatial_index('idx_tile_cache_envelope', 'tile_cache', ['envelope'], unique=False,
                               postgresql_using='gist', postgresql_ops={})
    for table in TABLES:
        op.execute(_function(table))
        for event, refs in (('INSERT', 'NEW TABLE AS new_rows'), ('UPDATE', 'OLD TABLE AS old_rows NEW TABLE AS new_rows'),
                            ('DELETE', 'OLD TABLE AS old_rows')):
            op.execute(f"CREATE TRIGGER tile_cache_{event.lower()} AFTER {event} ON {table} REFERENCING {refs} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION tile_cache_forget_{table}()")


def downgrade() -> None:
    for table in TABLES:
        for event in ('insert', 'update', 'delete'):
            op.execute(f"DROP TRIGGER tile_cache_{event} ON {table}")
        op.execute(f"DROP FUNCTION tile_cache_forget_{table}()")
    op.drop_geospatial_index('idx_tile_cache_envelope', table_name='tile_cache', postgresql_using='gist',
                             column_name='envelope')
    op.drop_table('tile_cache')
