"""Rate limits, tiers, quotas and concurrency caps: the algorithm, its backends, the policy."""
