"""Flask extensions, created unbound here and bound in the factory."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
# Limits are declared per route (login, code); nothing is limited by default.
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)

# Dutch first; English as second language.
LANGUAGES = ("nl", "en")
