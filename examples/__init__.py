"""Example user implementations of the contract in CASE_FORMAT.md (see README.md)."""
