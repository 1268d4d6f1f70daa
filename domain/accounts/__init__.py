"""Staff accounts: tenant staff and national office users, passwords, TOTP."""
