import os
from pathlib import Path

import pytest

from tests.browser.pilot import CHROMIUM, Pilot

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium, driven through playwright in a process of its own."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium")
    pilot = Pilot(ARTIFACTS / "browser-pilot.log")
    try:
        yield pilot
    finally:
        pilot.close()
