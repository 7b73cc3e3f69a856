"""Gridwalk's domain: the area tree, buildings, responsibility, field work, imports and
demo data. Plain functions over a SQLAlchemy Session; nothing here knows about the web."""
