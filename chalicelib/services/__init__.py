"""Use cases: each combines domain rules and the store into one business operation."""
