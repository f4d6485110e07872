"""who may see an indexed vacancy (visibility, steward organisations); placements keep who
recorded them and the caller's request_id, unique per organisation

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('indexed_vacancies') as batch_op:
        batch_op.add_column(sa.Column('visibility', sa.String(length=12), server_default='public', nullable=False))
        batch_op.add_column(sa.Column('steward_organisations', sa.JSON(), nullable=True))
    with op.batch_alter_table('placements') as batch_op:
        batch_op.add_column(sa.Column('recorded_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('request_id', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_placements_recorded_by_request_id', ['recorded_by', 'request_id'])
    # vacancies indexed before: their last event's profile says who may see them
    vacancies = sa.table('indexed_vacancies', sa.column('vacancy_id', sa.String), sa.column('profile', sa.JSON),
                         sa.column('visibility', sa.String), sa.column('steward_organisations', sa.JSON))
    bind = op.get_bind()
    rows = bind.execute(sa.select(vacancies.c.vacancy_id, vacancies.c.profile)
                        .where(vacancies.c.profile.is_not(None))).all()
    for vacancy_id, profile in rows:
        if not isinstance(profile, dict):
            continue
        bind.execute(vacancies.update().where(vacancies.c.vacancy_id == vacancy_id).values(
            visibility=profile.get('visibility') or 'public',
            steward_organisations=sorted(set(profile.get('steward_organisations') or ()))))


def downgrade() -> None:
    with op.batch_alter_table('placements') as batch_op:
        batch_op.drop_constraint('uq_placements_recorded_by_request_id', type_='unique')
        batch_op.drop_column('request_id')
        batch_op.drop_column('recorded_by')
    with op.batch_alter_table('indexed_vacancies') as batch_op:
        batch_op.drop_column('steward_organisations')
        batch_op.drop_column('visibility')
