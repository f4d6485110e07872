"""fairness counts: every replica's reported rankings, so matching.fairness answers for the service

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fairness_counts',
    sa.Column('instance', sa.String(length=160), nullable=False),
    sa.Column('rankings', sa.BigInteger(), nullable=False),
    sa.Column('top_total', sa.BigInteger(), nullable=False),
    sa.Column('pool_total', sa.BigInteger(), nullable=False),
    sa.Column('in_top', sa.JSON(), nullable=False),
    sa.Column('in_pool', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('instance', name=op.f('pk_fairness_counts')),
    )


def downgrade() -> None:
    op.drop_table('fairness_counts')
