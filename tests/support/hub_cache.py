"""A Hub dataset as `datasets` leaves it in its cache after a download, made here without the network: the rows
are prepared by `datasets`' own json builder, then laid out under the Hub name (`org___name/default/0.0.0/<rev>/`,
its arrow files named after the dataset), which is where `load_dataset("org/name")` looks when the Hub is offline.
So the console's Hub path (a name, not a path) runs for real in tests."""
from __future__ import annotations

import json
import shutil
from pathlib import Path


def cache_hub_dataset(cache: Path, repo_id: str, splits: dict[str, list[dict]]) -> Path:
    """Write `splits` ({"train": rows, ...}) as the cached Hub dataset `repo_id` under `cache` (HF_DATASETS_CACHE)."""
    import datasets

    org, name = repo_id.split("/")
    source = cache / f".source-{org}-{name}"
    source.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, rows in splits.items():
        path = source / f"{split}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        files[split] = str(path)
    builder = datasets.load_dataset_builder("json", data_files=files, cache_dir=str(source / "build"))
    builder.download_and_prepare()
    target = cache / f"{org}___{name}" / "default" / "0.0.0" / "0123456789abcdef"
    target.mkdir(parents=True)
    for arrow in Path(builder.cache_dir).glob("*.arrow"):
        shutil.copy(arrow, target / arrow.name.replace("json-", f"{name}-", 1))
    info = json.loads(Path(builder.cache_dir, "dataset_info.json").read_text(encoding="utf-8"))
    info.update(config_name="default", dataset_name=name, builder_name="parquet")
    (target / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
    shutil.rmtree(source)
    return target
