"""A small SQLAlchemy application for check-models: part of the example manifest's health app.

- schema.sql: its database before the cascade-tool revision (every FK to users NO ACTION);
- before.py: its models as written before the migration (what check-models reports);
- models.py: the same models with the fixes check-models printed;
- manifest.toml: the entries of the example manifest these tables cover;
- alembic.ini, migrations/env.py: its Alembic environment (target_metadata = the models).
"""
