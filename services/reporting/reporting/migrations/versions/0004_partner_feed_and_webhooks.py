"""the partner change feed and webhooks: a position per stored event, who sees it, subscriptions

Events stored before this revision get positions in the order they were received
(received_at, then event time and id) and their audiences by the same rules as
live ones (reporting.feed.decide), in that order.

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
    with op.batch_alter_table('event_store', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_event_store_position'), ['position'])
    op.create_table('feed_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_head'))
    )
    op.create_table('feed_entries',
    sa.Column('audience', sa.String(length=120), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('type', sa.String(length=120), nullable=False),
    sa.Column('form', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('audience', 'position', name=op.f('pk_feed_entries'))
    )
    op.create_index('ix_feed_entries_type', 'feed_entries', ['audience', 'type', 'position'], unique=False)
    op.create_table('feed_candidates',
    sa.Column('candidate_id', sa.String(length=64), nullable=False),
    sa.Column('organisation', sa.String(length=120), nullable=False),
    sa.PrimaryKeyConstraint('candidate_id', name=op.f('pk_feed_candidates'))
    )
    op.create_table('feed_placement_organisations',
    sa.Column('placement_id', sa.String(length=64), nullable=False),
    sa.Column('organisation', sa.String(length=120), nullable=False),
    sa.PrimaryKeyConstraint('placement_id', 'organisation', name=op.f('pk_feed_placement_organisations'))
    )
    op.create_table('feed_vacancies',
    sa.Column('vacancy_id', sa.String(length=64), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('vacancy_id', name=op.f('pk_feed_vacancies'))
    )
    op.create_table('webhook_subscriptions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organisation', sa.String(length=120), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('types', sa.JSON(), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('cursor', sa.BigInteger(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=True),
    sa.Column('delivered', sa.BigInteger(), nullable=False),
    sa.Column('last_delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions'))
    )
    op.create_index(op.f('ix_webhook_subscriptions_organisation'), 'webhook_subscriptions', ['organisation'],
                    unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('subscription_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    op.create_index('ix_webhook_deliveries_sub', 'webhook_deliveries', ['subscription_id', 'status', 'position'],
                    unique=False)
    op.execute("INSERT INTO feed_head (id, position) VALUES (1, 0)")
    # the events already stored: numbered in the order received, their audiences decided in that order
    from sqlalchemy.orm import Session

    from reporting import feed
    session = Session(bind=op.get_bind())
    feed.number_unnumbered(session)
    session.flush()


def downgrade() -> None:
    op.drop_index('ix_webhook_deliveries_sub', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_index(op.f('ix_webhook_subscriptions_organisation'), table_name='webhook_subscriptions')
    op.drop_table('webhook_subscriptions')
    op.drop_table('feed_vacancies')
    op.drop_table('feed_placement_organisations')
    op.drop_table('feed_candidates')
    op.drop_index('ix_feed_entries_type', table_name='feed_entries')
    op.drop_table('feed_entries')
    op.drop_table('feed_head')
    with op.batch_alter_table('event_store', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_event_store_position'), type_='unique')
        batch_op.drop_column('position')
