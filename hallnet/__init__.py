"""The local federation: embedded servers, NATS configs, the process supervisor and ``hallnet up``."""
