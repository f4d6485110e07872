"""werkprofiel: the full candidate profile, personal data, BSN, logbook, plan, audit,
trajectories and cohorts, and what candidates follows of placements and matches

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

NEW_REQUIRED = {
    'banenafspraak': sa.Boolean(), 'occupations_wanted': sa.JSON(), 'available_days': sa.JSON(),
    'transport_modes': sa.JSON(),
}
# the spine's plain skill URIs: a skill shown at work, independently
SPINE_LEVEL, SPINE_EVIDENCE = 2, 'work_experience'


def _candidates(*columns):
    return sa.table('candidates', sa.column('id', sa.String()), *columns)


def _spine_candidates_to_werkprofiel() -> None:
    """Defaults for the new columns; target groups and skills from JSON lists into their own tables."""
    bind = op.get_bind()
    bind.execute(sa.update(_candidates(*(sa.column(n, t) for n, t in NEW_REQUIRED.items()))).values(
        banenafspraak=False, occupations_wanted=[], available_days=[], transport_modes=[]))
    old = _candidates(sa.column('target_groups', sa.JSON()), sa.column('skills', sa.JSON()))
    groups, skills = [], []
    for candidate_id, target_groups, skill_uris in bind.execute(sa.select(old.c.id, old.c.target_groups, old.c.skills)):
        groups += [{'candidate_id': candidate_id, 'target_group': g} for g in sorted(set(target_groups or []))]
        skills += [{'candidate_id': candidate_id, 'skill': s, 'level': SPINE_LEVEL, 'evidence': SPINE_EVIDENCE}
                   for s in sorted(set(skill_uris or []))]
    if groups:
        bind.execute(sa.table('candidate_target_groups', sa.column('candidate_id'), sa.column('target_group'))
                     .insert(), groups)
    if skills:
        bind.execute(sa.table('candidate_skills', sa.column('candidate_id'), sa.column('skill'),
                              sa.column('level'), sa.column('evidence')).insert(), skills)


def _werkprofiel_to_spine_candidates() -> None:
    bind = op.get_bind()
    groups, skills = {}, {}
    for candidate_id, group in bind.execute(sa.text('SELECT candidate_id, target_group FROM candidate_target_groups')):
        groups.setdefault(candidate_id, []).append(group)
    for candidate_id, skill in bind.execute(sa.text('SELECT candidate_id, skill FROM candidate_skills')):
        skills.setdefault(candidate_id, []).append(skill)
    old = _candidates(sa.column('target_groups', sa.JSON()), sa.column('skills', sa.JSON()), sa.column('pc4'))
    for (candidate_id,) in bind.execute(sa.select(old.c.id)):
        bind.execute(sa.update(old).where(old.c.id == candidate_id).values(
            target_groups=sorted(groups.get(candidate_id, [])), skills=sorted(skills.get(candidate_id, []))))
    # erased candidates had no area; the spine's schema wants one
    bind.execute(sa.update(old).where(old.c.pc4.is_(None)).values(pc4='0000'))


def upgrade() -> None:
    op.create_table('candidate_matches',
    sa.Column('match_id', sa.String(length=64), nullable=False),
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('match_id', name=op.f('pk_candidate_matches'))
    )
    with op.batch_alter_table('candidate_matches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidate_matches_candidate_id'), ['candidate_id'], unique=False)

    op.create_table('candidate_placements',
    sa.Column('placement_id', sa.String(length=64), nullable=False),
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('ended', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('placement_id', name=op.f('pk_candidate_placements'))
    )
    with op.batch_alter_table('candidate_placements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidate_placements_candidate_id'), ['candidate_id'], unique=False)

    op.create_table('module_completions',
    sa.Column('cohort_id', sa.String(length=36), nullable=False),
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('module_code', sa.String(length=40), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('cohort_id', 'candidate_id', 'module_code', name=op.f('pk_module_completions'))
    )
    op.create_table('personal_data_reads',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=True),
    sa.Column('professional', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('operation', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personal_data_reads'))
    )
    with op.batch_alter_table('personal_data_reads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_personal_data_reads_candidate_id'), ['candidate_id'], unique=False)

    op.create_table('trajectories',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('weeks', sa.Integer(), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trajectories')),
    sa.UniqueConstraint('name', name=op.f('uq_trajectories_name'))
    )
    op.create_table('candidate_log_entries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=False),
    sa.Column('professional', sa.String(length=64), nullable=True),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidates.id'], name=op.f('fk_candidate_log_entries_candidate_id_candidates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_candidate_log_entries'))
    )
    with op.batch_alter_table('candidate_log_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidate_log_entries_candidate_id'), ['candidate_id'], unique=False)

    op.create_table('candidate_plans',
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('goal', sa.Text(), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=False),
    sa.Column('professional', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidates.id'], name=op.f('fk_candidate_plans_candidate_id_candidates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('candidate_id', name=op.f('pk_candidate_plans'))
    )
    op.create_table('candidate_skills',
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('skill', sa.String(length=100), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('evidence', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidates.id'], name=op.f('fk_candidate_skills_candidate_id_candidates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('candidate_id', 'skill', name=op.f('pk_candidate_skills'))
    )
    with op.batch_alter_table('candidate_skills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidate_skills_skill'), ['skill'], unique=False)

    op.create_table('candidate_target_groups',
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('target_group', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidates.id'], name=op.f('fk_candidate_target_groups_candidate_id_candidates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('candidate_id', 'target_group', name=op.f('pk_candidate_target_groups'))
    )
    with op.batch_alter_table('candidate_target_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidate_target_groups_target_group'), ['target_group'], unique=False)

    op.create_table('cohorts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('trajectory_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('region', sa.String(length=80), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['trajectory_id'], ['trajectories.id'], name=op.f('fk_cohorts_trajectory_id_trajectories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cohorts')),
    sa.UniqueConstraint('name', name=op.f('uq_cohorts_name'))
    )
    with op.batch_alter_table('cohorts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cohorts_trajectory_id'), ['trajectory_id'], unique=False)

    op.create_table('trajectory_modules',
    sa.Column('trajectory_id', sa.String(length=36), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('certificate_skill', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['trajectory_id'], ['trajectories.id'], name=op.f('fk_trajectory_modules_trajectory_id_trajectories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('trajectory_id', 'code', name=op.f('pk_trajectory_modules'))
    )
    op.create_table('enrolments',
    sa.Column('cohort_id', sa.String(length=36), nullable=False),
    sa.Column('candidate_id', sa.String(length=36), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidates.id'], name=op.f('fk_enrolments_candidate_id_candidates'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohorts.id'], name=op.f('fk_enrolments_cohort_id_cohorts')),
    sa.PrimaryKeyConstraint('cohort_id', 'candidate_id', name=op.f('pk_enrolments'))
    )
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolments_candidate_id'), ['candidate_id'], unique=False)

    with op.batch_alter_table('candidate_personal_data', schema=None) as batch_op:
        batch_op.add_column(sa.Column('birth_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('street', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('house_number', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('city', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('condition_notes', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('bsn_ciphertext', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('bsn_hash', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_candidate_personal_data_bsn_hash'), ['bsn_hash'])

    # new required columns arrive nullable, are filled for existing rows, then required
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('banenafspraak', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('occupations_wanted', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('work_thinking_level', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('dutch_level', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('hours_min', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('available_days', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('available_from', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('max_travel_minutes', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('max_distance_km', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('transport_modes', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('registered_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('source_ref', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
        # an erased candidate keeps no postcode area
        batch_op.alter_column('pc4', existing_type=sa.VARCHAR(length=4), nullable=True)
        batch_op.create_index(batch_op.f('ix_candidates_registered_at'), ['registered_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_candidates_registered_by'), ['registered_by'], unique=False)
        batch_op.create_index(batch_op.f('ix_candidates_status'), ['status'], unique=False)
        batch_op.create_unique_constraint('uq_candidates_registered_by_source_ref', ['registered_by', 'source_ref'])

    _spine_candidates_to_werkprofiel()

    with op.batch_alter_table('candidates', schema=None) as batch_op:
        for name, type_ in NEW_REQUIRED.items():
            batch_op.alter_column(name, existing_type=type_, nullable=False)
        batch_op.drop_column('target_groups')
        batch_op.drop_column('skills')



def downgrade() -> None:
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skills', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('target_groups', sa.JSON(), nullable=True))

    _werkprofiel_to_spine_candidates()

    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.alter_column('skills', existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('target_groups', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_constraint('uq_candidates_registered_by_source_ref', type_='unique')
        batch_op.drop_index(batch_op.f('ix_candidates_status'))
        batch_op.drop_index(batch_op.f('ix_candidates_registered_by'))
        batch_op.drop_index(batch_op.f('ix_candidates_registered_at'))
        batch_op.alter_column('pc4', existing_type=sa.VARCHAR(length=4), nullable=False)
        batch_op.drop_column('erased_at')
        batch_op.drop_column('source_ref')
        batch_op.drop_column('registered_by')
        batch_op.drop_column('transport_modes')
        batch_op.drop_column('max_distance_km')
        batch_op.drop_column('max_travel_minutes')
        batch_op.drop_column('available_from')
        batch_op.drop_column('available_days')
        batch_op.drop_column('hours_min')
        batch_op.drop_column('dutch_level')
        batch_op.drop_column('work_thinking_level')
        batch_op.drop_column('occupations_wanted')
        batch_op.drop_column('banenafspraak')

    with op.batch_alter_table('candidate_personal_data', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_candidate_personal_data_bsn_hash'), type_='unique')
        batch_op.drop_column('bsn_hash')
        batch_op.drop_column('bsn_ciphertext')
        batch_op.drop_column('condition_notes')
        batch_op.drop_column('city')
        batch_op.drop_column('house_number')
        batch_op.drop_column('street')
        batch_op.drop_column('email')
        batch_op.drop_column('phone')
        batch_op.drop_column('birth_date')

    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolments_candidate_id'))

    op.drop_table('enrolments')
    op.drop_table('trajectory_modules')
    with op.batch_alter_table('cohorts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cohorts_trajectory_id'))

    op.drop_table('cohorts')
    with op.batch_alter_table('candidate_target_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_candidate_target_groups_target_group'))

    op.drop_table('candidate_target_groups')
    with op.batch_alter_table('candidate_skills', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_candidate_skills_skill'))

    op.drop_table('candidate_skills')
    op.drop_table('candidate_plans')
    with op.batch_alter_table('candidate_log_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_candidate_log_entries_candidate_id'))

    op.drop_table('candidate_log_entries')
    op.drop_table('trajectories')
    with op.batch_alter_table('personal_data_reads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_personal_data_reads_candidate_id'))

    op.drop_table('personal_data_reads')
    op.drop_table('module_completions')
    with op.batch_alter_table('candidate_placements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_candidate_placements_candidate_id'))

    op.drop_table('candidate_placements')
    with op.batch_alter_table('candidate_matches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_candidate_matches_candidate_id'))

    op.drop_table('candidate_matches')
