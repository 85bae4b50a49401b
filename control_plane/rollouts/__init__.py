"""Blue/green rollouts: a candidate config beside the active one, a selector, a gate."""
