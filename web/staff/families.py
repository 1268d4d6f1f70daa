"""Family records for coordinators at /<slug>/app/gezinnen/…"""

from web.access import guard_blueprint
from web.tenancy import tenant_blueprint

families = tenant_blueprint("families", __name__, "/app/gezinnen")
guard_blueprint(families, realm="tenant", login_endpoint="auth.login")
