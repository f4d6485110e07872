-- One database per service (DESIGN.md section 3: each service owns its data).
-- The official postgres image runs this once, on an empty data directory, as
-- POSTGRES_USER (werkbrug in docker-compose.yml), which then owns them all.
-- Re-runnable by hand as well: `psql -U werkbrug -f init.sql` skips databases
-- that exist. CREATE DATABASE cannot run inside a DO block, hence \gexec.
SELECT format('CREATE DATABASE %I OWNER werkbrug', name)
FROM unnest(ARRAY[
    'werkbrug_candidates',
    'werkbrug_vacancies',
    'werkbrug_matching',
    'werkbrug_aftercare',
    'werkbrug_reporting'
]) AS name
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = name)
\gexec
