"""consents: what a candidate agreed to (who may see who they are, for which purpose, scope,
expiry, revocation; matching's consent), and when candidates heard a match was introduced

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
    op.create_table(
        'candidate_consents',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('candidate_id', sa.String(length=36), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('organisation', sa.String(length=64), nullable=False),
        sa.Column('scope', sa.String(length=12), nullable=False),
        sa.Column('match_id', sa.String(length=64), nullable=True),
        sa.Column('given_on', sa.Date(), nullable=True),
        sa.Column('given_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_on', sa.Date(), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('recorded_by', sa.String(length=64), nullable=True),
        sa.Column('professional', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['candidate_id'], ['candidates.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('candidate_id', 'purpose', 'organisation',
                            name='uq_candidate_consents_candidate_purpose_organisation'),
    )
    op.create_index('ix_candidate_consents_candidate_id', 'candidate_consents', ['candidate_id'])
    op.create_index('ix_candidate_consents_organisation', 'candidate_consents', ['organisation'])
    with op.batch_alter_table('candidate_matches') as batch_op:
        batch_op.add_column(sa.Column('introduced_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('candidate_matches') as batch_op:
        batch_op.drop_column('introduced_at')
    op.drop_index('ix_candidate_consents_organisation', table_name='candidate_consents')
    op.drop_index('ix_candidate_consents_candidate_id', table_name='candidate_consents')
    op.drop_table('candidate_consents')
