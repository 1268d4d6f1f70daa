"""Configuration: one frozen, validated settings object built from the environment."""
