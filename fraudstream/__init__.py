"""fraudstream: real-time card-fraud detection on AWS.

This shared package holds what every component relies on: the data contracts, the shared
settings, AWS client construction, the embedded AWS emulator and the `fraudstream` CLI.
"""

from __future__ import annotations

__version__ = "0.1.0"
