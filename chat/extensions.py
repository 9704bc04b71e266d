"""Extension objects, created unbound so that blueprints can import them."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

from .apidoc import ChatApi
from .read_requests import ReadAwareSession
from .search_index import include_in_autogenerate

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Committed rows stay readable: pushing a message after its commit needs no reload.
db = SQLAlchemy(
    metadata=MetaData(naming_convention=NAMING_CONVENTION),
    # A read request's session reads outside a transaction on PostgreSQL (read_requests).
    session_options={"expire_on_commit": False, "class_": ReadAwareSession},
)
migrate = Migrate(include_name=include_in_autogenerate)
login_manager = LoginManager()
csrf = CSRFProtect()
socketio = SocketIO()
openapi = ChatApi()
# Per-address by default; routes that count per user or per account pass their own key.
# Settings (storage, strategy, on/off) come from the RATELIMIT_* config keys.
limiter = Limiter(key_func=get_remote_address)
