"""Recovery: what the respond steps run (retries, rollbacks), and the rules for retrying them."""
