"""Per-route policies: built once per route at compile time, run per request by the chain."""

from .chain import Policy, PolicyChain, build_chain

__all__ = ["Policy", "PolicyChain", "build_chain"]
