"""initial schema

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa

from werkbrug_shared.db import create_messaging_tables, drop_messaging_tables


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobcoaches',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('region', sa.String(length=80), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobcoaches'))
    )
    with op.batch_alter_table('jobcoaches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobcoaches_region'), ['region'], unique=False)

    create_messaging_tables(op)
    op.create_table('aftercare_plans',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('placement_id', sa.String(length=36), nullable=False),
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('jobcoach_id', sa.String(length=36), nullable=True),
    sa.Column('region', sa.String(length=80), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('hours_per_week', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['jobcoach_id'], ['jobcoaches.id'], name=op.f('fk_aftercare_plans_jobcoach_id_jobcoaches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aftercare_plans')),
    sa.UniqueConstraint('placement_id', name=op.f('uq_aftercare_plans_placement_id'))
    )
    with op.batch_alter_table('aftercare_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aftercare_plans_candidate_id'), ['candidate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_aftercare_plans_jobcoach_id'), ['jobcoach_id'], unique=False)

    op.create_table('aftercare_tasks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('plan_id', sa.String(length=36), nullable=False),
    sa.Column('placement_id', sa.String(length=36), nullable=False),
    sa.Column('jobcoach_id', sa.String(length=36), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['jobcoach_id'], ['jobcoaches.id'], name=op.f('fk_aftercare_tasks_jobcoach_id_jobcoaches')),
    sa.ForeignKeyConstraint(['plan_id'], ['aftercare_plans.id'], name=op.f('fk_aftercare_tasks_plan_id_aftercare_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aftercare_tasks'))
    )
    with op.batch_alter_table('aftercare_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aftercare_tasks_due'), ['due'], unique=False)
        batch_op.create_index(batch_op.f('ix_aftercare_tasks_jobcoach_id'), ['jobcoach_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_aftercare_tasks_placement_id'), ['placement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_aftercare_tasks_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_aftercare_tasks_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('aftercare_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_aftercare_tasks_status'))
        batch_op.drop_index(batch_op.f('ix_aftercare_tasks_plan_id'))
        batch_op.drop_index(batch_op.f('ix_aftercare_tasks_placement_id'))
        batch_op.drop_index(batch_op.f('ix_aftercare_tasks_jobcoach_id'))
        batch_op.drop_index(batch_op.f('ix_aftercare_tasks_due'))

    op.drop_table('aftercare_tasks')
    with op.batch_alter_table('aftercare_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_aftercare_plans_jobcoach_id'))
        batch_op.drop_index(batch_op.f('ix_aftercare_plans_candidate_id'))

    op.drop_table('aftercare_plans')
    drop_messaging_tables(op)
    with op.batch_alter_table('jobcoaches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobcoaches_region'))

    op.drop_table('jobcoaches')
