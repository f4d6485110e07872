"""learned modules

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('learned_modules',
    sa.Column('module', sa.String(length=120), nullable=False),
    sa.Column('skill', sa.String(length=120), nullable=False),
    sa.Column('trajectory_id', sa.String(length=64), nullable=False),
    sa.Column('learned_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('module', 'skill', name=op.f('pk_learned_modules'))
    )


def downgrade() -> None:
    op.drop_table('learned_modules')
