"""account token indexes: a user's tokens, and open invitations for the reminder sweep

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_account_tokens_user_purpose', 'account_tokens', ['tenant_id', 'user_id', 'purpose'],
                    unique=False)
    op.create_index('ix_account_tokens_open_invitations', 'account_tokens', ['tenant_id', 'created_at'],
                    unique=False, postgresql_where=sa.text("purpose = 'invitation' AND used_at IS NULL"))


def downgrade() -> None:
    op.drop_index('ix_account_tokens_open_invitations', table_name='account_tokens',
                  postgresql_where=sa.text("purpose = 'invitation' AND used_at IS NULL"))
    op.drop_index('ix_account_tokens_user_purpose', table_name='account_tokens')
