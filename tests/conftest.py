"""Shared test configuration: hypothesis profiles and quiet TensorFlow.

Profiles: ``dev`` (default, few examples), ``ci`` (chosen when the CI variable is set) and
``thorough`` (many examples, by hand: ``HYPOTHESIS_PROFILE=thorough pytest``).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hypothesis import HealthCheck, settings  # noqa: E402

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=8, **_COMMON)
settings.register_profile("ci", max_examples=20, **_COMMON)
settings.register_profile("thorough", max_examples=300, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
