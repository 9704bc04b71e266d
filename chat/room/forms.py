"""HTML forms of the room pages."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, ValidationError

from ..schemas import TITLE_MAX_LENGTH
from ..text import storable_text
from .links import parse_room_reference


def _strip(value: str | None) -> str | None:
    return value.strip() if value else value


class CreateRoomForm(FlaskForm):
    title = StringField(
        "Room title",
        filters=[_strip],
        validators=[DataRequired(), Length(max=TITLE_MAX_LENGTH), storable_text],
    )


class JoinRoomForm(FlaskForm):
    room = StringField(
        "Room id or link", filters=[_strip], validators=[DataRequired(), storable_text]
    )

    def validate_room(self, field: StringField) -> None:
        if parse_room_reference(field.data) is None:
            raise ValidationError("Paste a room id or a room link.")
