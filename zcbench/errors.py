"""The one exception type that the CLI turns into a single clear line and a non-zero exit."""


class ZCBenchError(Exception):
    """A problem with the user's input or files (not a bug): shown as one line, exit code 2."""
