"""A Hub dataset named by its id (not a path) is previewed and checked like a local file: `data` and the dry run
read it from `datasets`' cache with the Hub offline, as a real user's cached download; the libraries' chatter on the
way (bitsandbytes' kernel look-up, datasets' "using the latest cached version") stays out of what `data` prints."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.hub_cache import cache_hub_dataset

ROWS = [{"instruction": f"What is {i} plus {i}?", "output": f"{2 * i}."} for i in range(24)]


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf-datasets"
    cache_hub_dataset(cache, "someorg/sums", {"train": ROWS})
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.e2e
def test_data_previews_a_cached_hub_dataset_by_name_and_says_nothing_else(hub_cache, tmp_path):
    done = _cli("data", "--dataset", "someorg/sums", "-n", "1", "--set", "dataset_split=train[:12]", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "instruction format" in done.stdout and "[[" in done.stdout
    assert "train: 10 rows" in done.stdout or "train: 11 rows" in done.stdout or "train: 12 rows" in done.stdout
    assert "plus" in done.stdout  # a row of the Hub dataset, not the demo's
    assert "kernels-community" not in done.stderr and "latest cached version" not in done.stderr, done.stderr


@pytest.mark.e2e
def test_a_hub_dataset_that_is_not_cached_offline_is_one_line(hub_cache, tmp_path):
    done = _cli("data", "--dataset", "someorg/missing", cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1 and "someorg/missing" in lines[0], done.stderr
