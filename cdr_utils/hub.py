"""Files of Hugging Face hub repositories, from the hub or from a local copy of the repository.

A local copy is a folder made with `hf download REPO --repo-type dataset --local-dir DIR` (or by hand, with the
repository's layout): pass DIR wherever a hub id is taken, and the same file is read from it. That is how a GPU
machine without hub access, and the dry run of the `paper` recipe, use the code paths of the hub.
"""
from __future__ import annotations

from pathlib import Path

import datasets
from huggingface_hub import hf_hub_download


class DatasetNotAvailable(FileNotFoundError):
    """A data set could not be loaded; the message names it and says what to do instead."""


def hub_dataset(repo: str, split: str, *, what: str = "the data set", revision: str | None = None) -> datasets.Dataset:
    """`load_dataset(repo, split=split)`: a hub id, or a local copy of the repository. Fails naming `what`, the
    repository and the split, and how to make a local copy."""
    try:
        return datasets.load_dataset(repo, split=split, revision=revision)
    except (OSError, ValueError) as err:  # ConnectionError and DatasetNotFoundError are OSErrors
        reason = str(err).splitlines()[0].rstrip(".") if str(err) else type(err).__name__
        raise DatasetNotAvailable(
            f"could not load {what} {repo!r} (split {split!r}) from the Hugging Face hub: {reason}. Without hub "
            f"access, download it elsewhere (`hf download {repo} --repo-type dataset --local-dir DIR`) and pass DIR "
            "instead of the hub id.") from err


def hub_file(repo: str, filename: str, *, repo_type: str = "dataset", revision: str | None = None) -> Path:
    """`filename` of the hub repository `repo`, or of the local copy when `repo` is an existing folder. Fails
    naming the file and the repository, and how to make a local copy."""
    local = Path(repo)
    if local.is_dir():
        path = local / filename
        if not path.is_file():
            raise FileNotFoundError(f"the local copy {repo} of a hub {repo_type} has no {filename!r}")
        return path
    try:
        return Path(hf_hub_download(repo, filename, repo_type=repo_type, revision=revision))
    except Exception as err:  # offline, gated, moved: say which file of which repository, and the way out
        raise FileNotFoundError(
            f"could not fetch {filename!r} from the hub {repo_type} {repo!r} ({type(err).__name__}). Without hub "
            f"access, copy it where the hub is reachable (`hf download {repo} {filename} --repo-type {repo_type} "
            "--local-dir DIR`) and pass DIR instead of the hub id") from err
