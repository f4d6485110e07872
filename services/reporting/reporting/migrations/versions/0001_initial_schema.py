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
    op.create_table('candidate_outflow',
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('cohort', sa.String(length=80), nullable=True),
    sa.Column('region', sa.String(length=80), nullable=True),
    sa.Column('first_placed_on', sa.Date(), nullable=True),
    sa.Column('placements', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('candidate_id', name=op.f('pk_candidate_outflow'))
    )
    with op.batch_alter_table('candidate_outflow', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidate_outflow_cohort'), ['cohort'], unique=False)
        batch_op.create_index(batch_op.f('ix_candidate_outflow_region'), ['region'], unique=False)

    op.create_table('candidate_target_groups',
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('target_group', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('candidate_id', 'target_group', name=op.f('pk_candidate_target_groups'))
    )
    op.create_table('event_store',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=120), nullable=False),
    sa.Column('source', sa.String(length=60), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_event_store'))
    )
    with op.batch_alter_table('event_store', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_store_time'), ['time'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_store_type'), ['type'], unique=False)

    create_messaging_tables(op)
    op.create_table('placement_facts',
    sa.Column('placement_id', sa.String(length=36), nullable=False),
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('region', sa.String(length=80), nullable=False),
    sa.Column('cohort', sa.String(length=80), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('placement_id', name=op.f('pk_placement_facts'))
    )
    with op.batch_alter_table('placement_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_placement_facts_candidate_id'), ['candidate_id'], unique=False)

    op.create_table('placement_target_groups',
    sa.Column('placement_id', sa.String(length=36), nullable=False),
    sa.Column('target_group', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('placement_id', 'target_group', name=op.f('pk_placement_target_groups'))
    )
    with op.batch_alter_table('placement_target_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_placement_target_groups_target_group'), ['target_group'], unique=False)



def downgrade() -> None:
    drop_messaging_tables(op)
    with op.batch_alter_table('placement_target_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_placement_target_groups_target_group'))

    op.drop_table('placement_target_groups')
    with op.batch_alter_table('placement_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_placement_facts_candidate_id'))

    op.drop_table('placement_facts')
    with op.batch_alter_table('event_store', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_store_type'))
        batch_op.drop_index(batch_op.f('ix_event_store_time'))

    op.drop_table('event_store')
    op.drop_table('candidate_target_groups')
    with op.batch_alter_table('candidate_outflow', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_candidate_outflow_region'))
        batch_op.drop_index(batch_op.f('ix_candidate_outflow_cohort'))

    op.drop_table('candidate_outflow')
