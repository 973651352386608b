"""`python -m cdr_utils ...` is the `cdr` command (cli/commands.py)."""
from .cli import main

if __name__ == "__main__":
    main()
