"""audit log: the hash-chained, append-only log of every read and change of personal data
(werkbrug_shared.audit), and an index for the retention of logbook entries

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
    op.create_index('ix_candidate_log_entries_recorded_at', 'candidate_log_entries', ['recorded_at'])


def downgrade() -> None:
    op.drop_index('ix_candidate_log_entries_recorded_at', table_name='candidate_log_entries')
    drop_audit_tables(op)
