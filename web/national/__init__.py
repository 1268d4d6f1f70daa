"""The national office at /landelijk/."""
