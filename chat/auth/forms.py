"""HTML forms for the account pages; Flask-WTF adds and checks their CSRF field."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length

from ..schemas import DISPLAY_NAME_MAX_LENGTH, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from ..text import storable_text


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254), storable_text])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=PASSWORD_MAX_LENGTH), storable_text]
    )
    remember = BooleanField("Remember me")


class RegisterForm(FlaskForm):
    display_name = StringField(
        "Display name",
        filters=[lambda value: value.strip() if value else value],
        validators=[DataRequired(), Length(max=DISPLAY_NAME_MAX_LENGTH), storable_text],
    )
    email = EmailField(
        "Email", validators=[DataRequired(), Email(), Length(max=254), storable_text]
    )
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(),
            Length(PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH),
            storable_text,
        ],
    )
