"""A Hub model name is checked before launch where the answer is known without the network: not cached while the
Hub is offline (the trainer failed after its start), or a name whose first part is a folder here (a local model
folder that is missing, read as org/model). A cached model passes, found through huggingface_hub's own look-up."""
from __future__ import annotations

import json

import huggingface_hub.constants as hub_constants
import pytest

from console.common.errors import DataError
from console.data.preflight import check_model_path


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def cache_model(cache, repo_id: str) -> None:
    """config.json of `repo_id` where a download leaves it: models--org--name/snapshots/<rev>/, refs/main -> rev."""
    folder = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = folder / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("0123abcd")


def test_an_uncached_hub_model_is_refused_while_offline_in_one_line(hub_cache):
    with pytest.raises(DataError) as err:
        check_model_path("someorg/big-model")
    said = str(err.value)
    assert "not in the Hugging Face cache" in said and "offline" in said and "\n" not in said


def test_a_cached_hub_model_passes_offline(hub_cache):
    cache_model(hub_cache, "someorg/small-model")
    assert check_model_path("someorg/small-model") == "Hub model someorg/small-model"


def test_a_missing_local_folder_read_as_a_hub_name_says_so(hub_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    (tmp_path / "models").mkdir()
    with pytest.raises(DataError) as err:
        check_model_path("models/llama-ft")
    assert "no folder models/llama-ft here" in str(err.value)


def test_online_an_uncached_name_is_left_to_the_trainer(hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert check_model_path("someorg/big-model") == "Hub model someorg/big-model"
