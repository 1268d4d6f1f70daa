"""Importing families, and privacy: export of one family's data, at /<slug>/app/gezinsbeheer/…"""

from web.access import guard_blueprint
from web.tenancy import tenant_blueprint

family_admin = tenant_blueprint("family_admin", __name__, "/app/gezinsbeheer")
guard_blueprint(family_admin, realm="tenant", login_endpoint="auth.login")
