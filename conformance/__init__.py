"""The conformance harness: cases, comparison, reports, the CLI and the pytest plugin."""
