"""Checkout tooling, not part of the installed package: the dry run's stand-ins (dryrun/) and the docs writer
(docs.py)."""
