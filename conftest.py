"""Root pytest configuration: notebooks collected by nbval run on the fast `smoke` profile."""
import os

os.environ.setdefault("CDR_PROFILE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
