"""HTML forms of the profile page; the rules themselves live in ``services.profiles``."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..schemas import DISPLAY_NAME_MAX_LENGTH, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH


def _strip(value: str | None) -> str | None:
    return value.strip() if value else value


class DisplayNameForm(FlaskForm):
    display_name = StringField(
        "Display name",
        filters=[_strip],
        validators=[DataRequired(), Length(max=DISPLAY_NAME_MAX_LENGTH)],
    )


class AvatarForm(FlaskForm):
    # No extension or type check here: the service judges the bytes themselves.
    avatar = FileField("New photo", validators=[FileRequired("Choose an image file.")])


class RemoveAvatarForm(FlaskForm):
    """Only its CSRF token: removing the photo takes no input."""


class PasswordForm(FlaskForm):
    """Changing the password: the current one, then the new one (rules in services.passwords)."""

    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=PASSWORD_MAX_LENGTH)]
    )
    new_password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH)],
    )
