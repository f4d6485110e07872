from aftercare.models import metadata
from werkbrug_shared.migrations import run_env

run_env(metadata)
