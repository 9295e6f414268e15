"""Hand-written half of the Flex client (placeholder, filled in below)."""
