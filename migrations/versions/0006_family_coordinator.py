"""families.coordinator_id: the coordinator whose task list a family's tasks are on

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('families', sa.Column('coordinator_id', sa.Integer(), nullable=True))
    op.create_index('ix_families_tenant_coordinator', 'families', ['tenant_id', 'coordinator_id'], unique=False)
    op.create_foreign_key(op.f('fk_families_tenant_id_coordinator_id_staff_users'), 'families', 'staff_users',
                          ['tenant_id', 'coordinator_id'], ['tenant_id', 'id'])


def downgrade() -> None:
    op.drop_constraint(op.f('fk_families_tenant_id_coordinator_id_staff_users'), 'families', type_='foreignkey')
    op.drop_index('ix_families_tenant_coordinator', table_name='families')
    op.drop_column('families', 'coordinator_id')
