"""A GitHub emulator for tests: REST subset + git smart HTTP, answers checked against GitHub's schemas."""

from tests.github_emulator.server import GitHubEmulator

__all__ = ["GitHubEmulator"]
