"""koppelingen: drop agreement_recorded_at/_by

Revision ID: 0012
Revises: 0011

The coordinator's recorded "akkoord" was replaced by the signed afsprakenovereenkomst (issue 8):
the proefperiode guard reads the sealed document, and nothing has written these columns since.
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("koppelingen", "agreement_recorded_by")
    op.drop_column("koppelingen", "agreement_recorded_at")


def downgrade() -> None:
    op.add_column("koppelingen", sa.Column("agreement_recorded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("koppelingen", sa.Column("agreement_recorded_by", sa.String(length=254), nullable=True))
