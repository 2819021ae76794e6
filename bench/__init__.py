"""The benchmark of the freeze (`scripts/bench`) and the sandbox's load generator."""
