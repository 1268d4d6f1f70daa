"""Reporting: aggregate figures per gemeente, through one narrow database path, no personal data."""
