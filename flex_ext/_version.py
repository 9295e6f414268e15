"""The distribution version, kept in one place for setup.py and the v-c-client-id header."""

__version__ = "0.1.0"
