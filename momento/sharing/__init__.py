"""Saved searches and share links: the rules, without Flask (the routes are in momento/web/shares.py)."""
