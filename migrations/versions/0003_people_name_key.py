"""people: a case-folded search key for display names

Revision ID: 0003_people
Revises: 0002_changes
Create Date: 2026-11-25 15:03:22.420400

The directory searches names case-insensitively in every script. SQL's lower()
folds only ASCII on SQLite, so the folded form is computed in Python and stored.
Existing profiles are filled in here with the same folding as
``chat.models.name_search_key`` (copied, so that this migration never changes
when the app's code does).
"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_people'
down_revision = '0002_changes'
branch_labels = None
depends_on = None


def _name_key(name):
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return folded[:200]


def upgrade():
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_key', sa.String(length=200), nullable=True))

    profiles = sa.table(
        'profiles',
        sa.column('id', sa.Uuid()),
        sa.column('display_name', sa.String()),
        sa.column('name_key', sa.String()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(profiles.c.id, profiles.c.display_name)).all()
    for profile_id, display_name in rows:
        connection.execute(
            profiles.update()
            .where(profiles.c.id == profile_id)
            .values(name_key=_name_key(display_name))
        )

    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.alter_column('name_key', existing_type=sa.String(length=200), nullable=False)
        batch_op.create_index('ix_profiles_name_key_user_id', ['name_key', 'user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.drop_index('ix_profiles_name_key_user_id')
        batch_op.drop_column('name_key')
