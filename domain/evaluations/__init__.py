"""Evaluations of a koppeling: the families' answers through personal links, and the coordinator's conversation."""
