"""consent to matching: who withdrew it (candidate.consent_changed), so every replica's index
leaves them out of rankings

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('matching_consents',
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('given', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('candidate_id', name=op.f('pk_matching_consents'))
    )


def downgrade() -> None:
    op.drop_table('matching_consents')
