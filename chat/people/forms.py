"""HTML forms of the profile page; the rules themselves live in ``services.profiles``."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ..schemas import DISPLAY_NAME_MAX_LENGTH


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
