import sys

try:
    from conformance.cli.main import run
except KeyboardInterrupt:  # Ctrl-C while Python imports the command line: no traceback
    print("interrupted", file=sys.stderr)
    sys.exit(130)  # conformance.exit_codes.INTERRUPTED

run()
