"""Fixtures for the cloud stores' tests: emulators started on 127.0.0.1 by the tests."""

from azurite import *  # noqa: F401,F403 - Azurite's fixtures
