"""The data page's work (a thread worker of the App): the draft config's data preview read from a child process
(`python -m console.trainer.preview`, console/trainer/preview.py: it loads the tokenizer, datasets and TRL, which
the console's own process never imports), and the light check of the dataset as it is typed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

PREVIEW_EXAMPLES = 5
PREVIEW_TIMEOUT_S = 600  # a Hub dataset is downloaded by the child: minutes, not forever


def preview_text(config, cancelled=lambda: False) -> str:
    """The preview in words (console/data/preview_text.py), or one line saying why there is none."""
    from console.config.run_config import to_yaml
    from console.data.preview_text import as_text

    with tempfile.TemporaryDirectory(prefix="training-console-data-") as folder:
        path = os.path.join(folder, "config.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(to_yaml(config))
        env = dict(os.environ)
        # the folder above screens/ (this file is screens/workers/data_preview.py): the child imports this console
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            done = subprocess.run([sys.executable, "-m", "console.trainer.preview", path, str(PREVIEW_EXAMPLES)],
                                  capture_output=True, text=True, env=env, timeout=PREVIEW_TIMEOUT_S,
                                  start_new_session=True, cwd=folder)
        except subprocess.TimeoutExpired:
            return f"no preview: reading the data took more than {PREVIEW_TIMEOUT_S} s"
    if cancelled():
        return ""
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no preview: the preview process failed ({tail[:200]})"
    if "error" in result:
        return f"no preview: {result['error']}"
    return as_text(result)


def check_text(values: dict) -> tuple[str, str | None]:
    """(the datasets in a line with the first example, or '', the problem in one line or None): the pre-launch
    data check (console/loop/preflight.py) of the draft as it is typed."""
    from console.common.errors import UserError
    from console.data.preflight import first_example
    from console.loop.preflight import check_data

    try:
        said = check_data(values)
        example = first_example(values)
    except UserError as err:
        return "", str(err).splitlines()[0] if str(err) else type(err).__name__
    except OSError as err:
        return "", f"{type(err).__name__}: {err}"
    return said + (f"\nfirst example: {example}" if example else ""), None
