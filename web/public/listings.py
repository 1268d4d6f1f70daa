"""The public listing of anonymised vraaggezinnen at /<slug>/gezinnen."""

from web.tenancy import tenant_blueprint

listings = tenant_blueprint("listings", __name__, "/gezinnen")
