"""`python -m localrag`: the same as the `localrag` command."""

from localrag.cli import main

main()
