"""The `cdr` command: commands.py (prepare, score, reward, pairs, evaluate) and launch.py (checking a command's
rows before any model work, and sharding them over the processes of a torchrun / accelerate launch)."""
from .commands import build_parser, main

__all__ = ["build_parser", "main"]
