"""Provisioning gemeenten (tenants) by the national office."""
