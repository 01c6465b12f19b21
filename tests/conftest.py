import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests never reach the network and never see a GPU they did not ask for.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One OpenMP thread in the tests and the trainers they start: the demo model is too small to gain from more, and on a
# shared machine with a core taken by someone else, two threads spin-wait on each other (a QLoRA demo run took 290 s
# instead of 16 s beside one busy process, and timed out: measured with a busy loop on one of the two cores).
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _demo_cache(tmp_path_factory):
    """One demo model cache for the whole session, outside the user's home."""
    if "TRAINING_CONSOLE_CACHE" not in os.environ:
        os.environ["TRAINING_CONSOLE_CACHE"] = str(tmp_path_factory.mktemp("demo-cache"))
    yield


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """The screens tests' runs folder: finished runs of each kind (tests.support.screens.standard_runs), a home of
    its own and no GPU."""
    from tests.support.screens import standard_runs

    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRAINING_CONSOLE_CPU", "1")
    monkeypatch.chdir(tmp_path)
    return standard_runs(tmp_path / "runs")


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Finished demo runs of each method, trained once per session (tests/support/trained_runs.py)."""
    from tests.support.trained_runs import TrainedRuns

    return TrainedRuns(tmp_path_factory.mktemp("trained") / "runs")
