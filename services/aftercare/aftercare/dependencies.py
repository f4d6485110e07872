"""The aftercare protocol, read from the config once, as a dependency."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from aftercare import domain


class AftercareProtocol(DependencyProvider):
    """``AFTERCARE_PROTOCOL`` in the nameko config (see config.yml), else the default
    protocol. Parsed at start-up, so a wrong protocol stops the service at once
    instead of failing each placement."""

    def setup(self):
        self.steps = domain.protocol_from_config(self.container.config.get("AFTERCARE_PROTOCOL"))

    def get_dependency(self, worker_ctx):
        return self.steps
