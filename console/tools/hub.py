"""Pushing an exported folder to the Hugging Face Hub (huggingface_hub imported inside `push`): the repo id checked
first, and an offline machine said in one line."""
from __future__ import annotations

import os
import re
from pathlib import Path

from console.common.errors import RunError, UserError, first_line

_REPO_ID = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


def check_repo_id(repo_id: str) -> str:
    repo_id = (repo_id or "").strip()
    if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id or "--" in repo_id:
        raise UserError(f"--push-to-hub {repo_id!r}: give a Hub repository as ORG/NAME (letters, digits, '-', '_', "
                        f"'.'), e.g. my-org/my-model")
    return repo_id


def _offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE"):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def push(folder: Path, repo_id: str, private: bool = False, message: str = "") -> str:
    """Upload `folder` to the Hub model repository `repo_id` (created if missing); its URL. RunError in one line
    when offline, not logged in, refused or unreachable: the folder stays as it is."""
    retry = f"the export is kept in {folder}; push it later with `hf upload {repo_id} {folder}`"
    if _offline():
        raise RunError(f"not pushed to {repo_id}: offline mode is on (HF_HUB_OFFLINE=1): {retry} where the Hub "
                       f"can be reached")
    import huggingface_hub
    from huggingface_hub import HfApi

    if not huggingface_hub.get_token():
        raise RunError(f"not pushed to {repo_id}: not logged in to the Hugging Face Hub (run `hf auth login` or set "
                       f"HF_TOKEN); {retry}")
    api = HfApi()
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        # the export's manifest says what it wrote into the folder here (console/tools/export_target.py): not
        # part of the model
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                          commit_message=message or f"Export of {folder.name}",
                          ignore_patterns=[".training-console-export.json"])
    except Exception as err:  # noqa: BLE001  HTTP refusals, no network, a bad token: one line, the folder kept
        status = getattr(getattr(err, "response", None), "status_code", None)
        why = {401: "the token was refused (log in again: `hf auth login`)",
               403: f"this token may not write to {repo_id} (a write token, and membership of the organisation)",
               404: f"{repo_id} was not found"}.get(status, first_line(err, with_type=True))
        if status is None and any(word in type(err).__name__ for word in ("Connect", "Timeout", "Network")):
            why = (f"the Hub cannot be reached ({first_line(err, with_type=True)}): check the network, or a proxy "
                   "(HTTPS_PROXY)")
        raise RunError(f"not pushed to {repo_id}: {why}; {retry}") from None
    return str(url)
