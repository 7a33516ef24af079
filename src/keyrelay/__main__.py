"""Allow ``python -m keyrelay``."""

from keyrelay.cli import main

main()
