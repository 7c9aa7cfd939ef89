"""hallnet's common runtime: settings, logging, tracing, bus, database, outbox/inbox, event schemas.

No business rules live here (STYLE.md §3).
"""
