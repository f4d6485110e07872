"""plans know the organisations credited with their placement

Revision ID: 0004
Revises: 0003

A plan is shown to the organisation coaching it and to those credited with the placement
(placement.recorded's credited_organisations); nobody else. Plans made before this have
none recorded: only their coaching organisation sees them.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('aftercare_plans', sa.Column('credited_organisations', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('aftercare_plans', 'credited_organisations')
