# Image for docker-compose.yml: web, worker, beat and the one-shot migrate all run from it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Pango & co. for WeasyPrint (PDFs), and a font for fontconfig to find.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 libfontconfig1 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Explicit folders rather than `COPY . .`: keeps .venv, var/ (embedded databases) and .git out.
COPY pyproject.toml ./
COPY config ./config
COPY tenants ./tenants
COPY domain ./domain
COPY web ./web
COPY worker ./worker
COPY devstack ./devstack
COPY migrations ./migrations
COPY templates ./templates
# Editable: migrations/ and templates/ are found next to the packages, i.e. in /app.
RUN pip install -e . \
    && if [ -d web/translations ]; then pybabel compile -d web/translations; fi

# A writable home: gunicorn puts its control socket in ~/.gunicorn.
RUN useradd --system --create-home --uid 10001 app
USER app

EXPOSE 8000
CMD ["gunicorn", "--workers", "2", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "web.app:create_app()"]
