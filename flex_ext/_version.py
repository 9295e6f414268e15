"""The distribution version, kept in one place for pyproject.toml and the v-c-client-id header."""

__version__ = "0.1.0"
