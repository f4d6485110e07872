"""Root conftest. eventlet must patch the standard library before anything
else imports socket or threading, or nameko container tests hang."""

import eventlet

eventlet.monkey_patch()

import os  # noqa: E402

# Tests never touch a developer's var/ files.
os.environ.setdefault("WERKBRUG_VAR_DIR", os.path.join(os.path.dirname(__file__), "..", "var", "test"))
