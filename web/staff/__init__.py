"""Staff pages of a gemeente at /<slug>/app/."""
