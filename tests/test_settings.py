"""Settings: read once from the environment, validated with the variable's name, frozen."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from config.settings import DEMO_SECRET_KEY, Environment, SettingsError, load_settings
from domain.documents.sealing import generate_self_signed

GOOD_SECRET = "x" * 40

BASE = {
    "DATABASE_URL": "postgresql://owner@127.0.0.1:5432/buurtgezinnen",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "BUURTGEZINNEN_ENV": "test",
}


def env(**changes: str | None) -> dict[str, str]:
    result = dict(BASE)
    for name, value in changes.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def test_valid_environment_loads():
    settings = load_settings(env(SECRET_KEY=GOOD_SECRET))
    assert settings.environment is Environment.TEST
    assert settings.secret_key == GOOD_SECRET
    assert settings.database_url.startswith("postgresql+psycopg://owner@")
    # Without APP_DATABASE_URL the app connects as the non-owner app role, to the same database.
    assert settings.app_database_url == "postgresql+psycopg://buurtgezinnen_app@127.0.0.1:5432/buurtgezinnen"
    assert settings.smtp_port == 1025
    assert settings.secure_cookies is False


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"DATABASE_URL": None}, "DATABASE_URL"),
        ({"DATABASE_URL": "   "}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://u@h"}, "DATABASE_URL"),
        ({"APP_DATABASE_URL": "mysql://app@localhost/x"}, "APP_DATABASE_URL"),
        ({"REDIS_URL": None}, "REDIS_URL"),
        ({"REDIS_URL": "http://127.0.0.1:6379/0"}, "REDIS_URL"),
        ({"REDIS_URL": "memcached://127.0.0.1"}, "REDIS_URL"),
        ({"SECRET_KEY": "too-short"}, "SECRET_KEY"),
        ({"BUURTGEZINNEN_ENV": "production", "SECRET_KEY": None}, "SECRET_KEY"),
        ({"SMTP_PORT": "smtp"}, "SMTP_PORT"),
        ({"SMTP_PORT": "0"}, "SMTP_PORT"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT"),
        ({"SMTP_USE_TLS": "misschien"}, "SMTP_USE_TLS"),
        ({"SESSION_IDLE_MINUTES": "0"}, "SESSION_IDLE_MINUTES"),
        ({"BASE_URL": "ftp://example.org"}, "BASE_URL"),
        ({"BASE_URL": "example.org"}, "BASE_URL"),
        ({"REDIS_NAMESPACE": "Spaces Not Allowed"}, "REDIS_NAMESPACE"),
        ({"BUURTGEZINNEN_ENV": "staging"}, "BUURTGEZINNEN_ENV"),
    ],
)
def test_bad_values_fail_naming_the_variable(changes, variable):
    with pytest.raises(SettingsError) as error:
        load_settings(env(**changes))
    assert variable in str(error.value)


def test_settings_are_frozen():
    settings = load_settings(env(SECRET_KEY=GOOD_SECRET))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.secret_key = "something else entirely, but long enough"  # type: ignore[misc]
    with pytest.raises((dataclasses.FrozenInstanceError, AttributeError, TypeError)):
        settings.new_attribute = 1  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def signing_files(tmp_path_factory) -> dict[str, str]:
    """A certificate and its key, as production would configure them."""
    folder = tmp_path_factory.mktemp("signing")
    key_pem, cert_pem = generate_self_signed("Buurtgezinnen test")
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key_pem)
    return {"SIGNING_CERT_FILE": str(folder / "cert.pem"), "SIGNING_KEY_FILE": str(folder / "key.pem")}


def test_demo_secret_only_in_demo_mode(signing_files):
    demo = load_settings(env(BUURTGEZINNEN_ENV="demo", SECRET_KEY=None))
    assert demo.is_demo and demo.secret_key == DEMO_SECRET_KEY

    # Test mode makes a random key per start, never the well-known demo key.
    first = load_settings(env(BUURTGEZINNEN_ENV="test", SECRET_KEY=None))
    second = load_settings(env(BUURTGEZINNEN_ENV="test", SECRET_KEY=None))
    assert DEMO_SECRET_KEY not in (first.secret_key, second.secret_key)
    assert first.secret_key != second.secret_key and len(first.secret_key) >= 32

    # Production refuses to start without one.
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings(env(BUURTGEZINNEN_ENV="production", SECRET_KEY=None))
    production = load_settings(env(BUURTGEZINNEN_ENV="production", SECRET_KEY=GOOD_SECRET, **signing_files))
    assert production.is_production and production.secret_key == GOOD_SECRET


@pytest.mark.parametrize("environment", ["production", "test"])
def test_the_public_demo_key_is_refused_outside_demo_mode(environment):
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings(env(BUURTGEZINNEN_ENV=environment, SECRET_KEY=DEMO_SECRET_KEY))
    # In demo mode setting it explicitly is harmless.
    assert load_settings(env(BUURTGEZINNEN_ENV="demo", SECRET_KEY=DEMO_SECRET_KEY)).is_demo


def test_https_base_url_means_secure_cookies():
    settings = load_settings(env(SECRET_KEY=GOOD_SECRET, BASE_URL="https://buurtgezinnen.example.org/"))
    assert settings.secure_cookies is True
    assert settings.base_url == "https://buurtgezinnen.example.org"


def test_unix_socket_redis_is_translated_for_celery_and_limits():
    settings = load_settings(env(SECRET_KEY=GOOD_SECRET, REDIS_URL="unix:///run/redis.sock"))
    assert settings.celery_broker_url == "redis+socket:///run/redis.sock"
    assert settings.limiter_storage_url == "redis+unix:///run/redis.sock"


def test_explicit_app_database_url_is_used():
    settings = load_settings(env(SECRET_KEY=GOOD_SECRET, APP_DATABASE_URL="postgres://app:pw@db:5433/bg"))
    assert settings.app_database_url == "postgresql+psycopg://app:pw@db:5433/bg"


# --- the certificate that seals signed documents ------------------------------------------------------

def test_demo_and_test_mode_use_a_self_signed_certificate_under_var(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for environment in ("demo", "test"):
        settings = load_settings(env(BUURTGEZINNEN_ENV=environment, SECRET_KEY=None))
        assert settings.signing_self_signed is True
        assert settings.signing_cert_file == str(tmp_path / "var" / environment / "signing" / "certificate.pem")
        assert settings.signing_key_file == str(tmp_path / "var" / environment / "signing" / "key.pem")
        assert settings.tsa_url is None
    assert not (tmp_path / "var").exists()  # made on first use by the sealing code, not by reading settings


def test_production_requires_a_signing_certificate(signing_files):
    production = {"BUURTGEZINNEN_ENV": "production", "SECRET_KEY": GOOD_SECRET}
    with pytest.raises(SettingsError, match="SIGNING_CERT_FILE"):
        load_settings(env(**production))
    with pytest.raises(SettingsError, match="SIGNING_KEY_FILE"):
        load_settings(env(**production, SIGNING_CERT_FILE=signing_files["SIGNING_CERT_FILE"]))
    settings = load_settings(env(**production, **signing_files, TSA_URL="https://tsa.example.org/tsr"))
    assert settings.signing_self_signed is False
    assert settings.signing_cert_file == signing_files["SIGNING_CERT_FILE"]
    assert settings.tsa_url == "https://tsa.example.org/tsr"


def test_a_configured_certificate_is_checked_at_start(signing_files, tmp_path):
    cert, key = signing_files["SIGNING_CERT_FILE"], signing_files["SIGNING_KEY_FILE"]
    with pytest.raises(SettingsError, match="SIGNING_CERT_FILE"):
        load_settings(env(SIGNING_CERT_FILE=str(tmp_path / "missing.pem"), SIGNING_KEY_FILE=key))
    with pytest.raises(SettingsError, match="SIGNING_CERT_FILE"):
        load_settings(env(SIGNING_CERT_FILE=key, SIGNING_KEY_FILE=key))  # a key is no certificate
    other_key, _ = generate_self_signed("Iemand anders")
    (tmp_path / "other.pem").write_bytes(other_key)
    with pytest.raises(SettingsError, match="SIGNING_KEY_FILE"):
        load_settings(env(SIGNING_CERT_FILE=cert, SIGNING_KEY_FILE=str(tmp_path / "other.pem")))
    # A key protected by a password needs SIGNING_KEY_PASSWORD, and the right one.
    private = serialization.load_pem_private_key(Path(key).read_bytes(), None)
    locked = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.BestAvailableEncryption(b"geheim-wachtwoord"))
    (tmp_path / "locked.pem").write_bytes(locked)
    with pytest.raises(SettingsError, match="SIGNING_KEY_PASSWORD"):
        load_settings(env(SIGNING_CERT_FILE=cert, SIGNING_KEY_FILE=str(tmp_path / "locked.pem")))
    with pytest.raises(SettingsError, match="SIGNING_KEY_PASSWORD"):
        load_settings(env(SIGNING_CERT_FILE=cert, SIGNING_KEY_FILE=str(tmp_path / "locked.pem"),
                          SIGNING_KEY_PASSWORD="fout"))
    settings = load_settings(env(SIGNING_CERT_FILE=cert, SIGNING_KEY_FILE=str(tmp_path / "locked.pem"),
                                 SIGNING_KEY_PASSWORD="geheim-wachtwoord"))
    assert settings.signing_key_password == "geheim-wachtwoord"
    assert "geheim-wachtwoord" not in repr(settings)


@pytest.mark.parametrize("value", ["tsa.example.org", "ftp://tsa.example.org/", "https://"])
def test_a_bad_tsa_url_fails_naming_the_variable(value):
    with pytest.raises(SettingsError, match="TSA_URL"):
        load_settings(env(TSA_URL=value))
