"""The claims side's tables."""
