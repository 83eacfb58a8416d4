"""Settings shared by every `zcbench` command (kept apart so that command modules need not import the CLI)."""

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
