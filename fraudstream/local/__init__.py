"""The embedded AWS (a moto server over real HTTP) and resource provisioning for any endpoint."""

from __future__ import annotations

from fraudstream.local.emulator import EmbeddedAws
from fraudstream.local.provision import provision

__all__ = ["EmbeddedAws", "provision"]
