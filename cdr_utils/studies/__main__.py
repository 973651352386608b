"""`python -m cdr_utils.studies plan|train` (or `make plan` / `make train`): the study commands."""
from .cli import main

if __name__ == "__main__":
    main()
