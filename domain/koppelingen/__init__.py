"""Koppelingen: a vraaggezin and a steungezin linked by the coordinator, from proposal to closing."""
