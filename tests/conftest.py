"""Test fixtures: a real PostgreSQL database per test process, real Redis, a real Celery worker.

``make test`` runs pytest under ``python -m devstack``, which provides DATABASE_URL and REDIS_URL
(embedded servers when the machine has none). Each xdist worker gets a database of its own, made
from scratch with the migrations, and a Redis namespace of its own. Tests create their own tenants
and users with unique names, so they never depend on each other's rows.
"""

from __future__ import annotations

import itertools
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings, load_settings
from devstack.scratch import scratch_database
from domain.accounts.models import NationalRole, TenantRole
from domain.accounts.services import create_national_user, create_staff_user
from domain.audit.services import SYSTEM
from domain.demo.services import DEMO_TENANTS
from tenants.db import db
from tenants.models import Tenant
from tenants.services import create_tenant, use_tenant
from web.app import create_app

PASSWORD = "een-lang-testwachtwoord"
DEMO_GEMEENTECODES = frozenset(demo.gemeentecode for demo in DEMO_TENANTS)


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    base = load_settings({**os.environ, "BUURTGEZINNEN_ENV": "test"})
    with scratch_database(base, prefix=f"bg_test_{_worker_id()}") as test_settings:
        yield test_settings


@pytest.fixture(scope="session")
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app
        db.session.remove()


def random_ip() -> str:
    # Every client gets an address of its own, so throttles of one test never touch another.
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    test_client = app.test_client()
    test_client.environ_base["REMOTE_ADDR"] = random_ip()
    return test_client


_codes = itertools.count(random.randint(0, 900))


@dataclass
class Person:
    email: str
    password: str
    totp_secret: str
    id: int
    role: str


@dataclass
class Gemeente:
    id: int
    slug: str
    name: str


class Factory:
    """Creates tenants and users with unique names, committed, through the app role."""

    def __init__(self, app: Flask):
        self.app = app

    def tenant(self, name: str | None = None) -> Gemeente:
        suffix = uuid.uuid4().hex[:8]
        with self.app.app_context():
            # CBS codes are unique; draw them from a per-process range so parallel workers differ.
            code = f"{(next(_codes) * 7 + hash(_worker_id())) % 10000:04d}"
            # Never take a demo gemeente's code: seed_demo() must still be able to create it later.
            while code in DEMO_GEMEENTECODES or db.session.query(Tenant).filter_by(gemeentecode=code).first():
                code = f"{(int(code) + 1) % 10000:04d}"
            tenant = create_tenant(slug=f"gem-{suffix}", name=name or f"Gemeente {suffix}", gemeentecode=code)
            db.session.commit()
            result = Gemeente(tenant.id, tenant.slug, tenant.name)
            db.session.remove()
        return result

    def user(self, gemeente: Gemeente, role: TenantRole = TenantRole.COORDINATOR, *, enrolled: bool = True) -> Person:
        secret = pyotp.random_base32(32)
        email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.org"
        with self.app.app_context():
            use_tenant(gemeente.id)
            tenant = db.session.get(Tenant, gemeente.id)
            user = create_staff_user(tenant, email=email, full_name=f"Test {role.value}", role=role,
                                     password=PASSWORD, totp_secret=secret if enrolled else None, actor=SYSTEM)
            db.session.commit()
            person = Person(email, PASSWORD, secret, user.id, role.value)
            db.session.remove()
        return person

    def national_user(self, role: NationalRole = NationalRole.NATIONAL_ADMIN) -> Person:
        secret = pyotp.random_base32(32)
        email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.org"
        with self.app.app_context():
            user = create_national_user(email=email, full_name=f"Test {role.value}", role=role,
                                        password=PASSWORD, totp_secret=secret, actor=SYSTEM)
            db.session.commit()
            person = Person(email, PASSWORD, secret, user.id, role.value)
            db.session.remove()
        return person


@pytest.fixture(scope="session")
def make(app: Flask) -> Factory:
    return Factory(app)


def csrf_token(client: FlaskClient, url: str) -> str:
    import re

    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def login(client: FlaskClient, person: Person, prefix: str) -> None:
    """Log in through the real two-step form: password, then a fresh TOTP code."""
    response = client.post(f"{prefix}/login", data={
        "email": person.email, "password": person.password, "csrf_token": csrf_token(client, f"{prefix}/login"),
    })
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    code = pyotp.TOTP(person.totp_secret).now()
    response = client.post(f"{prefix}/login/code", data={
        "code": code, "csrf_token": csrf_token(client, f"{prefix}/login/code"),
    })
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


@pytest.fixture
def two_tenants(make: Factory):
    """Tenant A with a coordinator and an admin; tenant B likewise."""
    a, b = make.tenant(), make.tenant()
    return {
        "a": a, "b": b,
        "a_coordinator": make.user(a), "a_admin": make.user(a, TenantRole.TENANT_ADMIN),
        "b_coordinator": make.user(b), "b_admin": make.user(b, TenantRole.TENANT_ADMIN),
    }
