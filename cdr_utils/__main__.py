"""`python -m cdr_utils ...` is the `cdr` command: the core's commands and the study commands (studies/cli.py)."""
from .studies.cli import main

if __name__ == "__main__":
    main()
