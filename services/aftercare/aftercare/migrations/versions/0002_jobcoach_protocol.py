"""jobcoach protocol: organisations, expertise, budgets, escalations

Revision ID: 0002
Revises: 0001

Existing rows: a jobcoach's one region becomes their region list; capacity was
counted in plans and is now hours per week, so every coach starts at 32 hours.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('coaching_organisations',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('coordinator_email', sa.String(length=254), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coaching_organisations'))
    )
    op.create_table('escalations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('plan_id', sa.String(length=36), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('organisation_id', sa.String(length=80), nullable=True),
    sa.Column('region', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['aftercare_plans.id'], name=op.f('fk_escalations_plan_id_aftercare_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalations')),
    sa.UniqueConstraint('task_id', name=op.f('uq_escalations_task_id'))
    )
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalations_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_plan_id'), ['plan_id'], unique=False)

    with op.batch_alter_table('aftercare_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=12), nullable=False, server_default='active'))
        batch_op.add_column(sa.Column('budget_hours', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('expertise_wanted', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('target_groups', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('ended_on', sa.Date(), nullable=True))

    with op.batch_alter_table('aftercare_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hours', sa.Float(), nullable=False, server_default='1.0'))
        batch_op.add_column(sa.Column('hours_spent', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('sustained_months', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('overdue_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('jobcoaches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('organisation_id', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('regions', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('expertise', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('capacity_hours', sa.Float(), nullable=False, server_default='32'))
    jobcoaches = sa.table('jobcoaches', sa.column('id', sa.String), sa.column('region', sa.String),
                          sa.column('regions', sa.JSON))
    connection = op.get_bind()
    for coach_id, region in connection.execute(sa.select(jobcoaches.c.id, jobcoaches.c.region)).all():
        connection.execute(jobcoaches.update().where(jobcoaches.c.id == coach_id).values(regions=[region]))
    with op.batch_alter_table('jobcoaches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobcoaches_region'))
        batch_op.create_index(batch_op.f('ix_jobcoaches_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_jobcoaches_organisation_id_coaching_organisations'), 'coaching_organisations', ['organisation_id'], ['id'])
        batch_op.drop_column('capacity')
        batch_op.drop_column('region')



def downgrade() -> None:
    with op.batch_alter_table('jobcoaches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region', sa.VARCHAR(length=80), nullable=False))
        batch_op.add_column(sa.Column('capacity', sa.INTEGER(), nullable=False))
        batch_op.drop_constraint(batch_op.f('fk_jobcoaches_organisation_id_coaching_organisations'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_jobcoaches_organisation_id'))
        batch_op.create_index(batch_op.f('ix_jobcoaches_region'), ['region'], unique=False)
        batch_op.drop_column('capacity_hours')
        batch_op.drop_column('expertise')
        batch_op.drop_column('regions')
        batch_op.drop_column('organisation_id')
        batch_op.drop_column('email')

    with op.batch_alter_table('aftercare_tasks', schema=None) as batch_op:
        batch_op.drop_column('overdue_at')
        batch_op.drop_column('sustained_months')
        batch_op.drop_column('hours_spent')
        batch_op.drop_column('hours')

    with op.batch_alter_table('aftercare_plans', schema=None) as batch_op:
        batch_op.drop_column('ended_on')
        batch_op.drop_column('target_groups')
        batch_op.drop_column('expertise_wanted')
        batch_op.drop_column('budget_hours')
        batch_op.drop_column('status')

    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalations_plan_id'))
        batch_op.drop_index(batch_op.f('ix_escalations_organisation_id'))

    op.drop_table('escalations')
    op.drop_table('coaching_organisations')
