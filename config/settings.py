"""Settings are read once from the environment, validated, and frozen.

Every later layer receives this object instead of reading ``os.environ`` itself, so a wrong value
fails at start with the name of the variable, not somewhere deep in a request.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization


class SettingsError(ValueError):
    """A configuration variable is missing or malformed; the message names the variable."""


class Environment(StrEnum):
    DEMO = "demo"  # local development and demonstrations: demo users, relaxed cookies
    TEST = "test"
    PRODUCTION = "production"


APP_ROLE = "buurtgezinnen_app"
DEMO_SECRET_KEY = "demo-only-secret-key-not-for-production"  # noqa: S105 - usable only in demo mode


@dataclass(frozen=True, slots=True)
class Settings:
    environment: Environment
    secret_key: str
    database_url: str  # owner role: migrations and provisioning
    app_database_url: str  # non-owner role without BYPASSRLS: everything the app does
    redis_url: str
    base_url: str
    smtp_host: str
    smtp_port: int
    smtp_username: str | None
    smtp_password: str | None
    smtp_use_tls: bool
    mail_from: str
    session_idle_minutes: int
    # Prefix of every Redis key and queue, so deployments (or parallel test runs) can share a server.
    redis_namespace: str
    # "smtp" sends for real; "sink" keeps mail in the database only, readable on a staff page (demo).
    mail_backend: str
    smtp_timeout_seconds: int
    # Longer than the longest job: a claimed job whose lease runs out is handed out again.
    outbox_lease_seconds: int
    # First retry delay; doubles per attempt (with jitter), capped at an hour.
    outbox_retry_base_seconds: int
    # How often beat looks for due outbox rows that were not handed over at commit.
    outbox_sweep_seconds: int
    # Postcode lookup for registrations: "pc4" (offline GeoNames table) or "pdok" (PDOK Locatieserver,
    # falling back to the offline table when it cannot be reached). Either way only PC4 precision is kept.
    geocoder: str = "pc4"
    # The certificate and key that seal signed documents (PAdES). Configured in production; in demo
    # and test mode, when neither is set, they point at a self-signed pair under var/<env>/signing/
    # that is made on first use and then kept (``signing_self_signed``).
    signing_cert_file: str | None = None
    signing_key_file: str | None = None
    signing_key_password: str | None = field(default=None, repr=False)
    signing_self_signed: bool = False
    # RFC 3161 time-stamp authority for the seal; without it the seal carries the signing time only.
    tsa_url: str | None = None

    @property
    def is_demo(self) -> bool:
        return self.environment is Environment.DEMO

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def secure_cookies(self) -> bool:
        # Local development runs on plain http://127.0.0.1; everywhere else cookies are Secure.
        return urlsplit(self.base_url).scheme == "https"

    @property
    def task_queue(self) -> str:
        return f"{self.redis_namespace}.tasks"

    @property
    def celery_broker_url(self) -> str:
        return _redis_url_for_kombu(self.redis_url)

    @property
    def limiter_storage_url(self) -> str:
        return _redis_url_for_limits(self.redis_url)


def load_settings(environ: Mapping[str, str]) -> Settings:
    environment = _parse_environment(environ.get("BUURTGEZINNEN_ENV", "demo"))
    database_url = _parse_database_url("DATABASE_URL", _required(environ, "DATABASE_URL"))
    app_database_url = (
        _parse_database_url("APP_DATABASE_URL", environ["APP_DATABASE_URL"])
        if environ.get("APP_DATABASE_URL")
        else _with_user(database_url, APP_ROLE)
    )
    return Settings(
        environment=environment,
        secret_key=_secret_key(environ, environment),
        database_url=database_url,
        app_database_url=app_database_url,
        redis_url=_parse_redis_url(_required(environ, "REDIS_URL")),
        base_url=_parse_base_url(environ.get("BASE_URL", "http://127.0.0.1:8000")),
        smtp_host=environ.get("SMTP_HOST", "127.0.0.1"),
        smtp_port=_parse_int(environ, "SMTP_PORT", 1025, minimum=1, maximum=65535),
        smtp_username=environ.get("SMTP_USERNAME") or None,
        smtp_password=environ.get("SMTP_PASSWORD") or None,
        smtp_use_tls=_parse_bool(environ, "SMTP_USE_TLS", default=False),
        mail_from=environ.get("MAIL_FROM", "Buurtgezinnen <noreply@buurtgezinnen.example.org>"),
        session_idle_minutes=_parse_int(environ, "SESSION_IDLE_MINUTES", 30, minimum=1, maximum=24 * 60),
        redis_namespace=_parse_namespace(environ.get("REDIS_NAMESPACE", "buurtgezinnen")),
        mail_backend=_parse_choice(environ, "MAIL_BACKEND", ("smtp", "sink"),
                                   default="sink" if environment is Environment.DEMO else "smtp"),
        smtp_timeout_seconds=_parse_int(environ, "SMTP_TIMEOUT_SECONDS", 30, minimum=1, maximum=300),
        outbox_lease_seconds=_parse_int(environ, "OUTBOX_LEASE_SECONDS", 300, minimum=1, maximum=24 * 3600),
        outbox_retry_base_seconds=_parse_int(environ, "OUTBOX_RETRY_BASE_SECONDS", 30, minimum=0, maximum=3600),
        outbox_sweep_seconds=_parse_int(environ, "OUTBOX_SWEEP_SECONDS", 5, minimum=1, maximum=3600),
        geocoder=_parse_choice(environ, "GEOCODER", ("pc4", "pdok"), default="pc4"),
        **_signing(environ, environment),
        tsa_url=_parse_tsa_url(environ.get("TSA_URL", "").strip()),
    )


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set")
    return value


def _parse_environment(value: str) -> Environment:
    try:
        return Environment(value.strip().lower())
    except ValueError:
        allowed = ", ".join(e.value for e in Environment)
        raise SettingsError(f"BUURTGEZINNEN_ENV must be one of {allowed}, not {value!r}") from None


def _secret_key(environ: Mapping[str, str], environment: Environment) -> str:
    value = environ.get("SECRET_KEY", "")
    if value:
        if value == DEMO_SECRET_KEY and environment is not Environment.DEMO:
            raise SettingsError("SECRET_KEY is the public demo key; set a secret of your own outside demo mode")
        if len(value) < 32:
            raise SettingsError("SECRET_KEY must be at least 32 characters long")
        return value
    if environment is Environment.DEMO:
        return DEMO_SECRET_KEY
    if environment is Environment.TEST:
        return secrets.token_urlsafe(32)
    raise SettingsError("SECRET_KEY is not set (required outside demo mode)")


def _signing(environ: Mapping[str, str], environment: Environment) -> dict[str, object]:
    cert_file = environ.get("SIGNING_CERT_FILE", "").strip()
    key_file = environ.get("SIGNING_KEY_FILE", "").strip()
    password = environ.get("SIGNING_KEY_PASSWORD") or None
    if not cert_file and not key_file and environment is not Environment.PRODUCTION:
        # Made on first use by domain.documents.sealing, then kept: stable across restarts.
        folder = Path.cwd().resolve() / "var" / environment.value / "signing"
        return {"signing_cert_file": str(folder / "certificate.pem"), "signing_key_file": str(folder / "key.pem"),
                "signing_key_password": None, "signing_self_signed": True}
    for name, value in (("SIGNING_CERT_FILE", cert_file), ("SIGNING_KEY_FILE", key_file)):
        if not value:
            raise SettingsError(f"{name} is not set (the certificate and key that seal signed documents"
                                + (", required in production)" if environment is Environment.PRODUCTION else ")"))
    certificate = _read_file("SIGNING_CERT_FILE", cert_file)
    try:
        cert = (x509.load_pem_x509_certificates(certificate)[0] if b"-----BEGIN" in certificate
                else x509.load_der_x509_certificate(certificate))
    except ValueError as error:
        raise SettingsError(f"SIGNING_CERT_FILE {cert_file!r} holds no X.509 certificate: {error}") from None
    key_bytes = _read_file("SIGNING_KEY_FILE", key_file)
    try:
        secret = password.encode() if password else None
        key = (serialization.load_pem_private_key(key_bytes, secret) if b"-----BEGIN" in key_bytes
               else serialization.load_der_private_key(key_bytes, secret))
    except (ValueError, TypeError) as error:
        raise SettingsError(f"SIGNING_KEY_FILE {key_file!r} cannot be read with the given SIGNING_KEY_PASSWORD: "
                            f"{error}") from None
    if key.public_key() != cert.public_key():
        raise SettingsError("SIGNING_KEY_FILE does not hold the key of the certificate in SIGNING_CERT_FILE")
    return {"signing_cert_file": cert_file, "signing_key_file": key_file, "signing_key_password": password,
            "signing_self_signed": False}


def _read_file(name: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise SettingsError(f"{name} {path!r} cannot be read: {error.strerror or error}") from None


def _parse_tsa_url(value: str) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(f"TSA_URL must be an absolute http(s) URL, not {value!r}")
    return value


def _parse_database_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    scheme = parts.scheme.split("+")[0]
    if scheme not in {"postgresql", "postgres"}:
        raise SettingsError(f"{name} must be a postgresql:// URL, not {parts.scheme or value!r}")
    if not parts.path.strip("/"):
        raise SettingsError(f"{name} must name a database (postgresql://user@host/dbname)")
    # One driver everywhere: psycopg 3.
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def _with_user(database_url: str, user: str) -> str:
    parts = urlsplit(database_url)
    host = parts.hostname or ""
    netloc = f"{user}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _parse_redis_url(value: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in {"redis", "rediss", "unix"}:
        raise SettingsError(f"REDIS_URL must be a redis://, rediss:// or unix:// URL, not {value!r}")
    return value


def _redis_url_for_kombu(redis_url: str) -> str:
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}"
    return redis_url


def _redis_url_for_limits(redis_url: str) -> str:
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        return f"redis+unix://{parts.path}"
    return redis_url


def _parse_namespace(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9_.-]{1,40}", value):
        raise SettingsError(f"REDIS_NAMESPACE may hold only a-z, 0-9, '_', '.', '-', not {value!r}")
    return value


def _parse_base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(f"BASE_URL must be an absolute http(s) URL, not {value!r}")
    return value.rstrip("/")


def _parse_int(environ: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def _parse_choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...], *, default: str) -> str:
    value = environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _parse_bool(environ: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")
