"""One module per ``python -m conformance`` subcommand, each exposing ``register(subparsers)``."""
