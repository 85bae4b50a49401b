"""Per-route policies: built once per route at compile time, run per request by the chain.

The chain and the `Call` each request makes are those of `chain_c`, the compiled twin
of chain.py, when it is built (data_plane/extensions.py); else chain.py's own. The
consumer directory a worker builds for its auth policies is likewise the loaded twin's
(`consumers_c`, which the compiled auth policy reads in C).
"""

from typing import TYPE_CHECKING

from data_plane.extensions import load

from .chain import Policy, Reply

if TYPE_CHECKING:
    from .chain import Call, PolicyChain, build_chain
    from .consumers import ConsumerDirectory
else:
    _chain = load("data_plane.policies.chain")
    Call = _chain.Call
    PolicyChain = _chain.PolicyChain
    build_chain = _chain.build_chain
    ConsumerDirectory = load("data_plane.policies.consumers").ConsumerDirectory

__all__ = ["Call", "ConsumerDirectory", "Policy", "PolicyChain", "Reply", "build_chain"]
