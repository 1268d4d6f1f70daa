"""Match suggestions: the platform ranks and explains, the coordinator decides (and may mark "niet geschikt")."""
