"""Families: vraaggezinnen and steungezinnen, their households, intake, consent and public listings."""
