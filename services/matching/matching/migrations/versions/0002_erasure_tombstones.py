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


def downgrade() -> None:
    op.drop_table('erased_candidates')
