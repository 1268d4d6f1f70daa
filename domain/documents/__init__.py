"""Agreements as PDFs: templates kept by the national office, rendered by the worker, signed by
every party through a personal link, sealed (PAdES) and verifiable by anyone."""
