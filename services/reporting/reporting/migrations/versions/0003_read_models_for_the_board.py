"""read models for the board: people, placements, tasks, vacancies, fairness, state

The old outflow tables go; the new read models start empty and the service
rebuilds them from the event store when it starts (rm_state.read_model_version
0 says they were never built).

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rm_fairness',
    sa.Column('target_group', sa.String(length=20), nullable=False),
    sa.Column('top', sa.BigInteger(), nullable=False),
    sa.Column('eligible', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('target_group', name=op.f('pk_rm_fairness'))
    )
    op.create_table('rm_people',
    sa.Column('candidate_id', sa.String(length=64), nullable=False),
    sa.Column('cohort', sa.String(length=80), nullable=True),
    sa.Column('trajectory', sa.String(length=120), nullable=True),
    sa.Column('region', sa.String(length=80), nullable=True),
    sa.Column('target_groups', sa.SmallInteger(), nullable=False),
    sa.Column('enrolled_on', sa.Date(), nullable=True),
    sa.Column('enrol_stamp', sa.String(length=160), nullable=True),
    sa.Column('profile_stamp', sa.String(length=160), nullable=True),
    sa.Column('first_start', sa.Date(), nullable=True),
    sa.Column('enrolled_month', sa.String(length=7), nullable=True),
    sa.Column('placed_month', sa.String(length=7), nullable=True),
    sa.Column('days_to_placement', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('candidate_id', name=op.f('pk_rm_people'))
    )
    op.create_table('rm_placements',
    sa.Column('placement_id', sa.String(length=64), nullable=False),
    sa.Column('candidate_id', sa.String(length=64), nullable=True),
    sa.Column('vacancy_id', sa.String(length=64), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('target_groups', sa.SmallInteger(), nullable=False),
    sa.Column('recorded_stamp', sa.String(length=160), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('end_stamp', sa.String(length=160), nullable=True),
    sa.Column('sustained_months', sa.SmallInteger(), nullable=False),
    sa.Column('start_month', sa.String(length=7), nullable=True),
    sa.Column('ended_early', sa.SmallInteger(), nullable=False),
    sa.Column('decided_6', sa.SmallInteger(), nullable=False),
    sa.Column('durable_6', sa.SmallInteger(), nullable=False),
    sa.Column('decided_12', sa.SmallInteger(), nullable=False),
    sa.Column('durable_12', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('placement_id', name=op.f('pk_rm_placements'))
    )
    with op.batch_alter_table('rm_placements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rm_placements_candidate_id'), ['candidate_id'], unique=False)

    op.create_table('rm_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('read_model_version', sa.Integer(), nullable=False),
    sa.Column('fairness_top_total', sa.BigInteger(), nullable=False),
    sa.Column('fairness_eligible_total', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rm_state'))
    )
    # the one row every projecting batch locks first; made here so replicas never race to make it
    op.execute("INSERT INTO rm_state (id, version, read_model_version, fairness_top_total, fairness_eligible_total) "
               "VALUES (1, 0, 0, 0, 0)")
    op.create_table('rm_tasks',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('organisation', sa.String(length=120), nullable=True),
    sa.Column('assign_stamp', sa.String(length=160), nullable=True),
    sa.Column('completed', sa.Boolean(), nullable=False),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('is_open', sa.SmallInteger(), nullable=False),
    sa.Column('is_overdue', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('task_id', name=op.f('pk_rm_tasks'))
    )
    op.create_table('rm_vacancies',
    sa.Column('vacancy_id', sa.String(length=64), nullable=False),
    sa.Column('is_leerwerkbaan', sa.Boolean(), nullable=False),
    sa.Column('stamp', sa.String(length=160), nullable=True),
    sa.PrimaryKeyConstraint('vacancy_id', name=op.f('pk_rm_vacancies'))
    )
    with op.batch_alter_table('placement_target_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_placement_target_groups_target_group'))

    op.drop_table('placement_target_groups')
    op.drop_table('candidate_target_groups')
    with op.batch_alter_table('placement_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_placement_facts_candidate_id'))

    op.drop_table('placement_facts')
    with op.batch_alter_table('candidate_outflow', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_candidate_outflow_cohort'))
        batch_op.drop_index(batch_op.f('ix_candidate_outflow_region'))

    op.drop_table('candidate_outflow')
    with op.batch_alter_table('event_store', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_store_time'))
        batch_op.create_index('ix_event_store_replay', ['time', 'event_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('event_store', schema=None) as batch_op:
        batch_op.drop_index('ix_event_store_replay')
        batch_op.create_index(batch_op.f('ix_event_store_time'), ['time'], unique=False)

    op.create_table('candidate_outflow',
    sa.Column('candidate_id', sa.VARCHAR(length=36), nullable=False),
    sa.Column('cohort', sa.VARCHAR(length=80), nullable=True),
    sa.Column('region', sa.VARCHAR(length=80), nullable=True),
    sa.Column('first_placed_on', sa.DATE(), nullable=True),
    sa.Column('placements', sa.INTEGER(), nullable=False),
    sa.PrimaryKeyConstraint('candidate_id', name=op.f('pk_candidate_outflow'))
    )
    with op.batch_alter_table('candidate_outflow', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidate_outflow_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_candidate_outflow_cohort'), ['cohort'], unique=False)

    op.create_table('placement_facts',
    sa.Column('placement_id', sa.VARCHAR(length=36), nullable=False),
    sa.Column('candidate_id', sa.VARCHAR(length=36), nullable=False),
    sa.Column('region', sa.VARCHAR(length=80), nullable=False),
    sa.Column('cohort', sa.VARCHAR(length=80), nullable=True),
    sa.Column('start_date', sa.DATE(), nullable=False),
    sa.PrimaryKeyConstraint('placement_id', name=op.f('pk_placement_facts'))
    )
    with op.batch_alter_table('placement_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_placement_facts_candidate_id'), ['candidate_id'], unique=False)

    op.create_table('candidate_target_groups',
    sa.Column('candidate_id', sa.VARCHAR(length=36), nullable=False),
    sa.Column('target_group', sa.VARCHAR(length=20), nullable=False),
    sa.PrimaryKeyConstraint('candidate_id', 'target_group', name=op.f('pk_candidate_target_groups'))
    )
    op.create_table('placement_target_groups',
    sa.Column('placement_id', sa.VARCHAR(length=36), nullable=False),
    sa.Column('target_group', sa.VARCHAR(length=20), nullable=False),
    sa.PrimaryKeyConstraint('placement_id', 'target_group', name=op.f('pk_placement_target_groups'))
    )
    with op.batch_alter_table('placement_target_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_placement_target_groups_target_group'), ['target_group'], unique=False)

    op.drop_table('rm_vacancies')
    op.drop_table('rm_tasks')
    op.drop_table('rm_state')
    with op.batch_alter_table('rm_placements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rm_placements_candidate_id'))

    op.drop_table('rm_placements')
    op.drop_table('rm_people')
    op.drop_table('rm_fairness')
