"""proposals (matches), ended placements with credit, full profiles for the in-memory index

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
    op.create_table('matches',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('vacancy_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('breakdown', sa.JSON(), nullable=True),
    sa.Column('proposed_by', sa.String(length=64), nullable=True),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('introduced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('rejected_reason', sa.String(length=40), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('placement_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matches'))
    )
    op.create_index(op.f('ix_matches_candidate_id'), 'matches', ['candidate_id'], unique=False)
    op.create_index(op.f('ix_matches_vacancy_id'), 'matches', ['vacancy_id'], unique=False)
    with op.batch_alter_table('indexed_candidates') as batch_op:
        batch_op.add_column(sa.Column('profile', sa.JSON(), nullable=True))
    with op.batch_alter_table('indexed_vacancies') as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=12), server_default='open', nullable=False))
        batch_op.add_column(sa.Column('profile', sa.JSON(), nullable=True))
    with op.batch_alter_table('placements') as batch_op:
        batch_op.add_column(sa.Column('match_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('credited_organisations', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('end_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('end_reason', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('placements') as batch_op:
        batch_op.drop_column('end_reason')
        batch_op.drop_column('end_date')
        batch_op.drop_column('credited_organisations')
        batch_op.drop_column('match_id')
    with op.batch_alter_table('indexed_vacancies') as batch_op:
        batch_op.drop_column('profile')
        batch_op.drop_column('status')
    with op.batch_alter_table('indexed_candidates') as batch_op:
        batch_op.drop_column('profile')
    op.drop_index(op.f('ix_matches_vacancy_id'), table_name='matches')
    op.drop_index(op.f('ix_matches_candidate_id'), table_name='matches')
    op.drop_table('matches')
