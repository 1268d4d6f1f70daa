"""Public pages of a gemeente at /<slug>/."""
