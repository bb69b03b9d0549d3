from conformance.cli.main import run

run()
