"""Hugging Face hub ids and downloads, with one-line errors (``huggingface_hub`` is optional)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import first_line

__all__ = ["HF_ID", "parse_hub_id", "hub_snapshot"]

# "org/name", "hf://org/name", either with "@revision".
HF_ID = re.compile(r"^(hf://)?(?P<repo>[\w.-]+/[\w.-]+)(@(?P<rev>[\w./-]+))?$")


def parse_hub_id(name: str) -> tuple[str, str | None] | None:
    """``(repo id, revision or None)`` of a hub id, else None."""
    match = HF_ID.match(name)
    return (match["repo"], match["rev"]) if match else None


def hub_snapshot(
    name: str, allow_patterns: Sequence[str], error: type[Exception] = ValueError
) -> str:
    """The local folder (hub cache) holding the files of hub id ``name`` that match
    ``allow_patterns``, downloaded when needed. Every failure raises ``error`` with one line
    naming ``name``: no ``huggingface_hub``, no such repository (or private / gated), no such
    revision, offline without a cached copy, or any other hub error."""
    parsed = parse_hub_id(name)
    if parsed is None:
        raise error(f"{name}: not a Hugging Face hub id (expected org/name or hf://org/name)")
    repo, revision = parsed
    try:
        import huggingface_hub
        from huggingface_hub import errors
    except ImportError:
        raise error(
            f"{name}: looks like a Hugging Face hub id but huggingface_hub is not installed "
            f"(pip install huggingface_hub)"
        ) from None
    try:
        return huggingface_hub.snapshot_download(
            repo, revision=revision, allow_patterns=list(allow_patterns)
        )
    except errors.RepositoryNotFoundError:  # also gated repositories
        raise error(
            f"{name}: no model '{repo}' on the Hugging Face hub (or it is private or gated: "
            f"log in with `hf auth login`)"
        ) from None
    except errors.RevisionNotFoundError:
        raise error(f"{name}: the hub model '{repo}' has no revision '{revision}'") from None
    except errors.LocalEntryNotFoundError:
        raise error(
            f"{name}: the Hugging Face hub cannot be reached and the model is not in the local "
            f"cache"
        ) from None
    except Exception as e:  # network, HTTP and file errors have many types
        raise error(f"{name}: Hugging Face hub download failed ({first_line(e)})") from None
