"""The embedded AWS (a moto server over real HTTP) and resource provisioning for any endpoint.

Kept free of imports so that `fraudstream --help` does not load moto.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PORT"]

# LocalStack's port: every command works unchanged against either emulator.
DEFAULT_PORT = 4566
