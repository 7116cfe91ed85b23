"""The consoles every command prints to: results on stdout, errors on stderr.

Off a terminal (CI logs, pipes) tables get 160 columns instead of rich's default 80.
"""

from __future__ import annotations

import sys

from rich.console import Console

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)
