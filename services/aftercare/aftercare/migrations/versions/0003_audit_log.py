"""audit log: the hash-chained, append-only log of every read and change of personal data
(werkbrug_shared.audit): here, the jobcoaches' notes on tasks

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from werkbrug_shared.audit import create_audit_tables, drop_audit_tables

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_tables(op)


def downgrade() -> None:
    drop_audit_tables(op)
