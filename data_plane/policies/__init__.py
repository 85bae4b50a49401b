"""Per-route policies: built once per route at compile time, run per request by the chain."""

from .chain import Call, Policy, PolicyChain, Reply, build_chain

__all__ = ["Call", "Policy", "PolicyChain", "Reply", "build_chain"]
