"""Staff login with password and mandatory TOTP, per tenant and for the national office."""
