"""erasure tombstones

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('erased_candidates',
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('candidate_id', name=op.f('pk_erased_candidates'))
    )
    with op.batch_alter_table('event_store', schema=None) as batch_op:
        batch_op.add_column(sa.Column('candidate_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_event_store_candidate_id'), ['candidate_id'], unique=False)
    # events stored before this revision: whom they are about, from their data
    extract = "data->>'candidate_id'" if op.get_bind().dialect.name == "postgresql" else \
        "json_extract(data, '$.candidate_id')"
    op.execute(f"UPDATE event_store SET candidate_id = {extract} WHERE candidate_id IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('event_store', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_store_candidate_id'))
        batch_op.drop_column('candidate_id')

    op.drop_table('erased_candidates')
