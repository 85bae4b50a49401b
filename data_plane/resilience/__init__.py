"""Routing around failing targets: circuit breakers and active health checks."""
