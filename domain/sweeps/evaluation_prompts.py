"""The evaluation sweep: links to both families of a koppeling when an evaluation moment comes (one
week before the proefperiode ends, then every ``evaluation_interval_months`` while definitief), and
one reminder with a fresh link when a family has not answered after ``evaluation_reminder_days``.

What is due and how it is sent live in ``domain.evaluations.services`` (``due`` and ``act_all``):
a fixed number of statements per gemeente, however many koppelingen are due, and exactly once per
(koppeling, moment, family) through the requests' unique key and the outbox dedupe keys.
"""

from __future__ import annotations

from domain.evaluations.services import act_all, due
from domain.sweeps.framework import tenant_batch_sweep

NAME = "evaluation_prompts"

EVALUATION_PROMPTS = tenant_batch_sweep(
    NAME, due, act_all,
    description="Evaluatielinks aan beide gezinnen van een koppeling (einde proefperiode, daarna periodiek), "
                "en één herinnering als er na een week nog geen antwoord is.",
)
