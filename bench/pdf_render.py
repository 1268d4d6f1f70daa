"""``pdf_render``: one afsprakenovereenkomst to PDF through ``domain.documents.rendering.render_pdf``,
against bare WeasyPrint on the same HTML, in the same run.

The HTML is a typical agreement: the default proefperiode text (two pages) with the values a real
document has (``sample_context``), in the A4 layout with page numbers and the bundled font.

Ours: ``render_pdf(html)``, the worker's path: the restricted URL fetcher, the process's one shared
``FontConfiguration`` (fonts loaded once), the render lock and the SIGALRM time limit.

Baseline: ``weasyprint.HTML(string=html, base_url=…).write_pdf()`` with WeasyPrint's defaults (its
own fetcher, a new font configuration per document, which then loads the @font-face fonts again).
So the baseline reads the same font files, the HTML's ``buurtgezinnen-static:/`` URLs are
rewritten to ``file://`` URLs of web/static/ for it: same text, same fonts, same pages.

Runs alternate (ours, bare, ours, …) after a warm-up of each, each after a full garbage
collection; the figure is the median seconds per document of ``PDF_RENDER_N`` runs each (default
40, about 15 s in all). Ratio = ours / baseline. Checked: both PDFs have the same number of pages.
"""

from __future__ import annotations

import gc
import io
import os
import statistics
import time

from config.settings import Settings

NAME = "pdf_render"
DEFAULT_N = 40


def _pages(pdf: bytes) -> int:
    from pypdf import PdfReader  # a test extra, installed for make bench too

    return len(PdfReader(io.BytesIO(pdf)).pages)


def _typical_html() -> str:
    from domain.documents.models import DocumentKind
    from domain.documents.rendering import document_html
    from domain.documents.templates import default_body, sample_context

    kind = DocumentKind.AFSPRAKEN_PROEFPERIODE
    context = sample_context(kind)
    context.update(huisregels="Geen snoep voor het eten.\nOm half acht naar bed.\nSchoenen uit in huis.",
                   vervoer="Het steungezin haalt Sem op woensdag om 12.15 uur van school.",
                   kosten="Zwemles betaalt het vraaggezin; een ijsje onderweg betaalt het steungezin.")
    return document_html(default_body(kind), context, gemeente="Smallingerland",
                         title="Afsprakenovereenkomst proefperiode")


def _timed(render) -> tuple[float, bytes]:
    gc.collect()
    start = time.perf_counter()
    pdf = render()
    return time.perf_counter() - start, pdf


def run(settings: Settings) -> list[dict]:
    from weasyprint import HTML

    from domain.documents.rendering import STATIC_PREFIX, STATIC_ROOT, render_pdf

    repeats = max(int(os.environ.get("PDF_RENDER_N", DEFAULT_N)), 3)
    html = _typical_html()
    bare_html = html.replace(STATIC_PREFIX, STATIC_ROOT.resolve().as_uri() + "/")

    def ours() -> bytes:
        return render_pdf(html)

    def bare() -> bytes:
        return HTML(string=bare_html).write_pdf()

    ours_pdf, bare_pdf = ours(), bare()  # warm-up: imports, the shared font configuration
    if _pages(ours_pdf) != _pages(bare_pdf):
        raise SystemExit(f"{NAME}: ours has {_pages(ours_pdf)} pages, bare WeasyPrint {_pages(bare_pdf)}")
    ours_times, bare_times = [], []
    for _ in range(repeats):
        seconds, _pdf = _timed(ours)
        ours_times.append(seconds)
        seconds, _pdf = _timed(bare)
        bare_times.append(seconds)
    ours_median, bare_median = statistics.median(ours_times), statistics.median(bare_times)
    return [{"name": NAME, "ours": round(ours_median, 4), "baseline": round(bare_median, 4), "unit": "s/document",
             "ratio": round(ours_median / bare_median, 2), "n": repeats}]
