"""Tenancy: the gemeente as tenant, the per-transaction tenant context, RLS, provisioning."""
