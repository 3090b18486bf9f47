"""Test settings: the production settings module, with the secrets a test run needs."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-django")
os.environ.setdefault("JWT_SIGNING_KEY", "test-jwt-signing-key-of-at-least-32-bytes")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# Most tests send far more than 100 requests from 127.0.0.1; the rate-limit tests lower it.
os.environ.setdefault("RATELIMIT_RATE", "100000/15m")

from inferapi.settings import *  # noqa: F403
