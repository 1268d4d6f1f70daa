"""E-mail templates: a sandboxed Jinja environment over ``templates/email/``.

Layout, kept exactly so other features can add templates without asking::

    templates/email/<name>/<lang>/subject.txt   one line (whitespace is collapsed)
    templates/email/<name>/<lang>/body.txt      plain text, not escaped
    templates/email/<name>/<lang>/body.html     HTML, autoescaped; {% extends "_layout.html" %}

Dutch (``nl``) must exist for every template; any other language falls back to Dutch when missing.
Rendering is strict: a variable the template needs but the context lacks is an error, never a
half-filled mail, and the sandbox refuses attribute tricks (``''.__class__`` and the like).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from domain.outbox.services import PermanentJobError

EMAIL_TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "email"
DEFAULT_LANGUAGE = "nl"
TEMPLATE_PARTS = ("subject.txt", "body.txt", "body.html")

_NAME = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")


class EmailTemplateError(PermanentJobError, ValueError):
    """A template that does not exist or does not render: the job fails at once, no retries."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    language: str  # the language actually used (after fallback)


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """The one environment for e-mail templates (compiled templates are cached inside it)."""
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(EMAIL_TEMPLATE_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def template_exists(name: str) -> bool:
    """True when ``name`` is a well-formed template name with all Dutch parts present."""
    if not _NAME.match(name):
        return False
    folder = EMAIL_TEMPLATE_DIR / name / DEFAULT_LANGUAGE
    return all((folder / part).is_file() for part in TEMPLATE_PARTS)


def resolve_language(name: str, language: str) -> str:
    """``language`` if the template has every part in it, else Dutch."""
    if language and _LANGUAGE.match(language):
        folder = EMAIL_TEMPLATE_DIR / name / language
        if all((folder / part).is_file() for part in TEMPLATE_PARTS):
            return language
    return DEFAULT_LANGUAGE


def render_email(name: str, language: str, context: dict[str, Any]) -> RenderedEmail:
    """Subject, plain text and HTML of template ``name``; raises EmailTemplateError on any failure."""
    if not template_exists(name):
        raise EmailTemplateError(f"e-mail template {name!r} does not exist")
    used = resolve_language(name, language)
    env = environment()
    try:
        subject = env.get_template(f"{name}/{used}/subject.txt").render(context)
        subject = " ".join(subject.split())  # one header line, whatever the template did
        values = {**context, "subject": subject, "lang": used}
        text = env.get_template(f"{name}/{used}/body.txt").render(values)
        html = env.get_template(f"{name}/{used}/body.html").render(values)
    except TemplateError as error:  # undefined variable, syntax error, sandbox refusal
        raise EmailTemplateError(f"e-mail template {name}/{used} does not render: "
                                 f"{type(error).__name__}: {error}") from error
    if not subject:
        raise EmailTemplateError(f"e-mail template {name}/{used} renders an empty subject")
    return RenderedEmail(subject=subject, text=text, html=html, language=used)
