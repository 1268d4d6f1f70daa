"""Turning a document text into HTML (sandboxed Jinja) and HTML into a PDF (WeasyPrint), safely.

Three rules keep the file system and the network out of every PDF:

* The national template text is Jinja run in a sandbox (``DocumentSandbox``): no attribute that
  starts with ``_`` (``''.__class__`` raises ``SecurityError`` instead of rendering as nothing),
  no ``include``/``extends``/``import``, no ``|safe`` and no ``{% autoescape false %}``, and
  autoescape is on. A text is checked once when it is saved (``compile_template``), and again
  whenever it is rendered.
* Family data is data: the frozen context is only ever passed as values, so ``{{ 7*7 }}`` typed
  into a family field comes out as those characters, and ``<img src=…>`` comes out escaped.
* WeasyPrint gets ``StaticOnlyFetcher``: it serves files under ``web/static/`` that are named
  with the ``buurtgezinnen-static:`` scheme (``buurtgezinnen-static:/fonts/…``) and refuses
  everything else (``file:``, ``http(s):``, ``data:``, relative URLs, ``..``). A refusal stops the
  render (``RenderError``): a document that asks for something else is broken, not half-rendered.

Fonts: one ``FontConfiguration`` per process, made on first use and reused for every document
(a fresh one per document leaks about 0.25 MB each); the bundled Atkinson Hyperlegible faces are
loaded into it once. WeasyPrint and Pango are not thread-safe with a shared configuration, so
renders in one process take turns (``_RENDER_LOCK``).

Time limit: ``render_pdf`` arms ``SIGALRM`` (``signal.setitimer``) for ``time_limit`` seconds when
it runs in the main thread, which is where a Celery prefork worker runs its tasks and where tests
and ``make bench`` call it; the alarm raises ``RenderTimeout`` between two Python steps of
WeasyPrint's layout, which is where a pathological document spends its time. Off the main thread
(signals cannot be used there) or when another ``SIGALRM`` timer is already running, no alarm is
set and the outbox lease is the outer bound: a job that outlives it is handed out again, and a
render that keeps failing ends as a permanent failure with ``render_error`` on the document.
"""

from __future__ import annotations

import hashlib
import signal
import threading
from collections import OrderedDict
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, TemplateSyntaxError, nodes, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup, escape

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STATIC_ROOT = PROJECT_ROOT / "web" / "static"
DOCUMENT_TEMPLATES = PROJECT_ROOT / "templates" / "documents"
LAYOUT = "_layout.html"

STATIC_SCHEME = "buurtgezinnen-static"
STATIC_PREFIX = f"{STATIC_SCHEME}:/"
# What a document may load from web/static/, by file type.
STATIC_TYPES = {
    ".woff2": "font/woff2", ".woff": "font/woff", ".css": "text/css", ".png": "image/png",
    ".svg": "image/svg+xml", ".jpg": "image/jpeg",
}
MAX_STATIC_BYTES = 2 * 1024 * 1024
RENDER_TIME_LIMIT_SECONDS = 30
MAX_TEMPLATE_CHARS = 100_000
MAX_PDF_BYTES = 20 * 1024 * 1024


class RenderError(Exception):
    """The document cannot be rendered as it is (a template error, a refused URL, too slow)."""


class RenderTimeout(RenderError):
    pass


class TemplateCheckError(RenderError):
    """A template text that is refused; ``line`` is where, when known. The message is Dutch."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


# --- the sandbox --------------------------------------------------------------------------------------


class DocumentSandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox (immutable: a text cannot change the values it is given), stricter: an unsafe
    attribute is an error, not a silent empty value."""

    def unsafe_undefined(self, obj: Any, attribute: str):
        raise SecurityError(f"toegang tot {attribute!r} van een {type(obj).__name__} is niet toegestaan")

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return not attr.startswith("_") and super().is_safe_attribute(obj, attr, value)


def dutch_date(value: Any) -> str:
    """An ISO date (as frozen in a context) or a date as '23 november 2026'."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        return str(value)
    return format_date(value, "d MMMM y", locale="nl")


def euro(value: Any) -> str:
    """Whole euros the Dutch way: 5500 → '€ 5.500'."""
    try:
        amount = int(value)
    except (TypeError, ValueError):
        return str(value or "")
    sign = "-" if amount < 0 else ""
    return f"€ {sign}{abs(amount):,}".replace(",", ".")


def paragraphs(value: Any) -> Markup:
    """Text typed by a person, escaped, with its line breaks kept."""
    lines = str(value or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Markup("<br>\n").join(escape(line) for line in lines)


def _sandbox() -> DocumentSandbox:
    env = DocumentSandbox(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    # Nothing in a template may mark text as safe HTML: family data stays escaped.
    env.filters.pop("safe", None)
    env.filters.pop("xmlattr", None)
    env.globals.clear()  # no range(), lipsum(), dict(), cycler() …: a document needs none of them
    env.filters.update(datum=dutch_date, euro=euro, alinea=paragraphs)
    return env


@lru_cache(maxsize=1)
def sandbox() -> DocumentSandbox:
    return _sandbox()


_FORBIDDEN_NODES: dict[type, str] = {
    nodes.Include: "{% include %}",
    nodes.Extends: "{% extends %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
    nodes.ScopedEvalContextModifier: "{% autoescape %}",
    nodes.EvalContextModifier: "{% autoescape %}",
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
}


def _check_tree(tree: nodes.Template) -> None:
    for node in tree.find_all(tuple(_FORBIDDEN_NODES)):
        raise TemplateCheckError(f"{_FORBIDDEN_NODES[type(node)]} is niet toegestaan in een documenttekst",
                                 node.lineno)
    for node in tree.find_all(nodes.Getattr):
        if node.attr.startswith("_"):
            raise TemplateCheckError(f"'{node.attr}' is niet toegestaan in een documenttekst", node.lineno)
    # Also catches obj['__class__'] and obj|attr('__class__'): no string in a text starts with "_".
    for node in tree.find_all(nodes.Const):
        if isinstance(node.value, str) and node.value.startswith("_"):
            raise TemplateCheckError(f"'{node.value}' is niet toegestaan in een documenttekst", node.lineno)


# Tags that make WeasyPrint load something; a document text has no use for them (the layout
# brings the styling and the font). The fetcher refuses such loads anyway: this gives the author a
# clear message when saving instead of a failed render later.
_LOADING_MARKERS = ("<link", "<img", "<image", "<object", "<embed", "<iframe", "<frame", "<script", "<style",
                    "<svg", "<video", "<audio", "<source", "<base", "<meta", "<input", "@import", "url(")


def _check_markup(body: str) -> None:
    lowered = body.lower()
    for marker in _LOADING_MARKERS:
        position = lowered.find(marker)
        if position >= 0:
            line = body.count("\n", 0, position) + 1
            raise TemplateCheckError(f"'{marker.strip('<(')}' is niet toegestaan in een documenttekst: "
                                     "een document laadt niets van buiten", line)


_compiled: OrderedDict[str, Any] = OrderedDict()
_COMPILED_KEEP = 32
_compile_lock = threading.Lock()


def compile_template(body: str):
    """The sandboxed template for a document text; ``TemplateCheckError`` if it is refused."""
    if not isinstance(body, str) or not body.strip():
        raise TemplateCheckError("de tekst is leeg")
    if len(body) > MAX_TEMPLATE_CHARS:
        raise TemplateCheckError(f"de tekst is te lang (hoogstens {MAX_TEMPLATE_CHARS} tekens)")
    key = hashlib.sha256(body.encode()).hexdigest()
    with _compile_lock:
        if key in _compiled:
            _compiled.move_to_end(key)
            return _compiled[key]
    _check_markup(body)
    env = sandbox()
    try:
        tree = env.parse(body)
        _check_tree(tree)
        template = env.from_string(tree)
    except TemplateSyntaxError as error:
        raise TemplateCheckError(f"fout in de sjabloontaal: {error.message}", error.lineno) from None
    except SecurityError as error:
        raise TemplateCheckError(str(error)) from None
    with _compile_lock:
        _compiled[key] = template
        while len(_compiled) > _COMPILED_KEEP:
            _compiled.popitem(last=False)
    return template


def render_body(template_body: str, context: dict[str, Any]) -> str:
    """The document text rendered with ``context`` in the sandbox (HTML, values escaped)."""
    template = compile_template(template_body)
    try:
        return template.render(context)
    except SecurityError as error:
        raise TemplateCheckError(f"niet toegestaan in een documenttekst: {error}") from None
    except Exception as error:  # a Jinja runtime error in the text (a filter on a wrong value …)
        raise TemplateCheckError(f"de tekst kan niet worden gemaakt: {type(error).__name__}: {error}") from None


@lru_cache(maxsize=1)
def _layout_environment() -> Environment:
    # The layout is a file of ours (trusted), so a plain environment; autoescape still on.
    env = Environment(loader=FileSystemLoader(str(DOCUMENT_TEMPLATES)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(datum=dutch_date, euro=euro)
    return env


def document_html(template_body: str, context: dict[str, Any], *, gemeente: str, title: str) -> str:
    """The full HTML of a document: the sandboxed text inside ``templates/documents/_layout.html``."""
    body = render_body(template_body, context)
    return _layout_environment().get_template(LAYOUT).render(
        body=Markup(body),  # noqa: S704 - rendered by the sandbox above, autoescaped
        gemeente=gemeente, title=title, static=STATIC_PREFIX,
    )


# --- fetching ------------------------------------------------------------------------------------------


def static_path(url: str) -> Path | None:
    """The file under web/static/ that ``url`` names, or None if it names anything else."""
    if not url.startswith(STATIC_PREFIX):
        return None
    relative = url[len(STATIC_PREFIX):].split("?", 1)[0].split("#", 1)[0].lstrip("/")
    if not relative or "\\" in relative or "%" in relative or any(part in ("", ".", "..")
                                                                   for part in relative.split("/")):
        return None
    path = (STATIC_ROOT / relative).resolve()
    root = STATIC_ROOT.resolve()
    if root not in path.parents or path.suffix.lower() not in STATIC_TYPES or not path.is_file():
        return None
    return path


@lru_cache(maxsize=64)
def _static_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if len(data) > MAX_STATIC_BYTES:
        raise RenderError(f"{path.name} is te groot voor een document")
    return data


def _fetcher_class():
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnlyFetcher(URLFetcher):
        """Serves ``buurtgezinnen-static:/…`` from web/static/; every other URL stops the render."""

        def __init__(self):
            super().__init__(fail_on_errors=True)
            self.served: list[str] = []

        def fetch(self, url, headers=None):
            path = static_path(url)
            if path is None:
                raise RenderError(f"refused URL: {url[:200]}")
            self.served.append(url)
            return URLFetcherResponse(url, _static_bytes(path), {"Content-Type": STATIC_TYPES[path.suffix.lower()]})

    return StaticOnlyFetcher


def static_only_fetcher():
    """A fresh URL fetcher for one render (it lists what it served in ``.served``)."""
    return _fetcher_class()()


# --- the PDF ---------------------------------------------------------------------------------------------

_font_config = None
_font_lock = threading.Lock()
_RENDER_LOCK = threading.Lock()


def font_configuration():
    """The process's one ``FontConfiguration``, made on first use."""
    global _font_config
    with _font_lock:
        if _font_config is None:
            from weasyprint.text.fonts import FontConfiguration

            _font_config = FontConfiguration()
        return _font_config


class _Alarm:
    """SIGALRM after ``seconds`` in the main thread (see the module docstring); else nothing."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.armed = False
        self.fired = False
        self.previous = None

    def timeout(self) -> RenderTimeout:
        return RenderTimeout(f"het document was niet binnen {self.seconds:g} seconden klaar")

    def _expired(self, signum, frame):
        self.fired = True
        raise self.timeout()

    def __enter__(self):
        if (self.seconds and threading.current_thread() is threading.main_thread()
                and signal.getitimer(signal.ITIMER_REAL)[0] == 0):
            self.previous = signal.signal(signal.SIGALRM, self._expired)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
            self.armed = True
        return self

    def __exit__(self, *exc):
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def render_pdf(html: str, *, base_url: str | None = None, time_limit: float = RENDER_TIME_LIMIT_SECONDS,
               fetcher=None, pdf_variant: str | None = None) -> bytes:
    """The PDF of ``html``: only the project's static files are fetched, fonts are shared, and the
    render is stopped after ``time_limit`` seconds (see the module docstring). ``RenderError`` when
    it cannot be made. ``fetcher`` is for tests (a ``static_only_fetcher()`` to inspect).
    ``pdf_variant`` e.g. "pdf/ua-1": a tagged PDF that screen readers can follow."""
    from weasyprint import HTML
    from weasyprint.urls import FatalURLFetchingError

    if base_url is not None and not base_url.startswith(STATIC_PREFIX):
        raise RenderError(f"base_url must start with {STATIC_PREFIX}")
    fetcher = fetcher or static_only_fetcher()
    with _RENDER_LOCK, _Alarm(time_limit) as alarm:
        try:
            pdf = HTML(string=html, base_url=base_url, url_fetcher=fetcher).write_pdf(
                font_config=font_configuration(), pdf_variant=pdf_variant)
        except FatalURLFetchingError as error:
            cause = error.__cause__
            raise RenderError(str(cause) if isinstance(cause, RenderError) else str(error)) from None
        except RenderError:
            raise
        except Exception as error:
            if alarm.fired:  # the timeout surfaced wrapped in another error
                raise alarm.timeout() from None
            raise RenderError(f"{type(error).__name__}: {error}") from None
        if alarm.fired:  # caught and swallowed somewhere inside WeasyPrint: still too slow
            raise alarm.timeout()
    if len(pdf) > MAX_PDF_BYTES:
        raise RenderError("het document is te groot")
    return pdf
