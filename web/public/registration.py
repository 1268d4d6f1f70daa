"""Public registration of a vraaggezin or steungezin at /<slug>/aanmelden/…"""

from web.tenancy import tenant_blueprint

registration = tenant_blueprint("registration", __name__, "/aanmelden")
