"""audit log: the hash-chained, append-only log of every read and change of personal data
(werkbrug_shared.audit): here, shortlists and the stewards' notes; a shortlist entry's last
activity, which retention counts from

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

from werkbrug_shared.audit import create_audit_tables, drop_audit_tables

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_tables(op)
    with op.batch_alter_table('shortlist', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_shortlist_changed_at'), ['changed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('shortlist', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shortlist_changed_at'))
        batch_op.drop_column('changed_at')
    drop_audit_tables(op)
