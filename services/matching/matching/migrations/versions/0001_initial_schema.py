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
    op.create_table('indexed_candidates',
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('region', sa.String(length=80), nullable=False),
    sa.Column('pc4', sa.String(length=4), nullable=False),
    sa.Column('target_groups', sa.JSON(), nullable=False),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('hours_per_week', sa.Integer(), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('cohort', sa.String(length=80), nullable=True),
    sa.Column('in_pool', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('candidate_id', name=op.f('pk_indexed_candidates'))
    )
    with op.batch_alter_table('indexed_candidates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_indexed_candidates_in_pool'), ['in_pool'], unique=False)
        batch_op.create_index(batch_op.f('ix_indexed_candidates_region'), ['region'], unique=False)

    op.create_table('indexed_vacancies',
    sa.Column('vacancy_id', sa.String(length=36), nullable=False),
    sa.Column('employer_id', sa.String(length=36), nullable=False),
    sa.Column('region', sa.String(length=80), nullable=False),
    sa.Column('pc4', sa.String(length=4), nullable=False),
    sa.Column('skills_required', sa.JSON(), nullable=False),
    sa.Column('hours_per_week', sa.Integer(), nullable=False),
    sa.Column('openings', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('vacancy_id', name=op.f('pk_indexed_vacancies'))
    )
    with op.batch_alter_table('indexed_vacancies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_indexed_vacancies_region'), ['region'], unique=False)

    create_messaging_tables(op)
    op.create_table('placements',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('vacancy_id', sa.String(length=36), nullable=False),
    sa.Column('employer_id', sa.String(length=36), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('hours_per_week', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_placements'))
    )
    with op.batch_alter_table('placements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_placements_candidate_id'), ['candidate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_placements_vacancy_id'), ['vacancy_id'], unique=False)



def downgrade() -> None:
    drop_messaging_tables(op)
    with op.batch_alter_table('placements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_placements_vacancy_id'))
        batch_op.drop_index(batch_op.f('ix_placements_candidate_id'))

    op.drop_table('placements')
    with op.batch_alter_table('indexed_vacancies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_indexed_vacancies_region'))

    op.drop_table('indexed_vacancies')
    with op.batch_alter_table('indexed_candidates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_indexed_candidates_region'))
        batch_op.drop_index(batch_op.f('ix_indexed_candidates_in_pool'))

    op.drop_table('indexed_candidates')
