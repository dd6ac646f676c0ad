"""Measurement and synthetic-data code, kept outside the runtime package."""
