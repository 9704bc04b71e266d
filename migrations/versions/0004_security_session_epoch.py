"""security: a per-user session epoch, bumped by a password change

Revision ID: 0004_security
Revises: 0003_people
Create Date: 2026-11-25 15:30:00.000000

Flask's session is a signed cookie that cannot be revoked on the server. The
epoch is part of the id Flask-Login stores (``"<uuid>:<epoch>"``), so bumping it
signs out every session and remember-me cookie issued before. Existing users
start at 0, which is also what an id without an epoch means.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_security'
down_revision = '0003_people'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')
