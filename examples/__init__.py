"""Example user implementations of the contract in docs/contract.md (see README.md)."""
