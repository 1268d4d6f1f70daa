"""Reading a sent mail back, as staff do under Berichten.

A mail can carry someone's personal single-use link: an invitation, a password reset, an evaluation
or a signing link. Whoever holds it acts as that person (chooses their password, answers for the
family, signs for them), so a colleague reading the mail must not get it: the link is shown as a
placeholder. Only where mail is never delivered (the demo's sink) is the stored mail the one way to
follow such a link, and there it stays.
"""

from __future__ import annotations

import re

# Our links end in a token of at least 32 URL-safe characters (secrets.token_urlsafe); ordinary
# addresses of the platform (/verifieer, /<gemeente>/aanmelden) do not.
PERSONAL_LINK = re.compile(r"https?://[^\s<>\"]+/[A-Za-z0-9_-]{32,}(?:[/?#][^\s<>\"]*)?")
HIDDEN_LINK = "[persoonlijke link, alleen voor de ontvanger]"


def without_personal_links(text: str) -> str:
    return PERSONAL_LINK.sub(HIDDEN_LINK, text)


def body_for_staff(body_text: str | None, *, mail_is_delivered: bool) -> str | None:
    """The mail's text as a colleague may read it."""
    if body_text is None or not mail_is_delivered:
        return body_text
    return without_personal_links(body_text)
