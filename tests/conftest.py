"""Suite-wide settings.

Property-based tests run on a shared 2-core machine beside real TLS servers and browsers, so a
per-example time limit would measure the machine, not the code: deadlines are off and the
too-slow health check is suppressed. In CI the examples are derandomized, so a green run is
reproducible; locally they stay random to keep finding new cases.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dccscan", deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          derandomize=bool(os.environ.get("CI")))
settings.load_profile("dccscan")
