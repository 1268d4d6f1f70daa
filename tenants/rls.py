"""Row-level security DDL for tenant-owned tables, used by the migrations.

The policy follows the design: rows are visible and writable only when ``tenant_id`` equals the
transaction-local ``app.tenant_id``. With no tenant set, ``NULLIF`` yields NULL and nothing matches.
"""

from __future__ import annotations

from config.settings import APP_ROLE
from tenants.db import TENANT_SETTING

POLICY_NAME = "tenant_isolation"


def enable_rls_statements(table: str) -> list[str]:
    predicate = f"tenant_id = NULLIF(current_setting('{TENANT_SETTING}', true), '')::int"
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'CREATE POLICY {POLICY_NAME} ON "{table}" USING ({predicate}) WITH CHECK ({predicate})',
    ]


def grant_statements(table: str, privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> list[str]:
    return [f'GRANT {privileges} ON "{table}" TO {APP_ROLE}']
