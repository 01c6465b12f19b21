"""`training-console export`: a run's adapter, the adapter merged into its base, a full fine-tune's model; which
folder of the run, where to, the Hub; and the runs screen's E key. Every run here really trains the demo model.

The key check: a merged model gives the logits of the adapter on its base (to float rounding).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli.main import main
from console.config.run_config import build_config, parse_set, resolve
from console.runs.launcher import kill, launch, wait
from console.runs.rundir import create_run
from tests.support.e2e_util import FAST, wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
IDS = [[1, 5, 9, 100, 200, 300, 400, 17], [1, 42, 7, 250, 3, 480, 64, 2]]
RESUME_ONLY = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json", "training_args.bin")


@pytest.fixture
def runs_folder(trained) -> Path:
    """The session's folder of finished runs (tests/support/trained_runs.py); the exports go to each test's own folder."""
    return trained.folder


@pytest.fixture
def lora_run(trained):
    return trained.finished("lora")


@pytest.fixture
def full_run(trained):
    return trained.finished("full")


def export(runs_folder, *args, capsys=None) -> tuple[int, str, str]:
    code = main(["export", "--runs-dir", str(runs_folder), *args])
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    assert "Traceback" not in out + err
    return code, out, err


def cli(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    """The command as a user types it (a child process: what reaches the terminal, tracebacks included)."""
    environ = dict(os.environ, **{k: v for k, v in (env or {}).items() if v is not None})
    for key in [k for k, v in (env or {}).items() if v is None]:
        environ.pop(key, None)
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd or ROOT, env=environ)


def logits(model, ids=IDS):
    import torch

    model.eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids)).logits


def base_model():
    from transformers import AutoModelForCausalLM

    from console.trainer.model import model_source

    return AutoModelForCausalLM.from_pretrained(model_source({}))


def adapter_on_base(folder):
    from peft import PeftModel

    return PeftModel.from_pretrained(base_model(), str(folder))


def assert_tokenizer_with_chat_template(folder: Path, run) -> None:
    from transformers import AutoTokenizer

    exported = AutoTokenizer.from_pretrained(str(folder))
    original = AutoTokenizer.from_pretrained(str(run.path / "model"))
    assert exported.chat_template and exported.chat_template == original.chat_template
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert exported.apply_chat_template(messages, tokenize=False) == original.apply_chat_template(messages,
                                                                                                   tokenize=False)


# -- LoRA: the adapter, and merged --------------------------------------------------------------------------------

def test_a_lora_run_exports_its_adapter_that_loads_on_the_base_with_peft(lora_run, runs_folder, tmp_path, capsys):
    import torch

    dest = tmp_path / "adapter"
    code, out, _ = export(runs_folder, lora_run.id, "--to", str(dest), capsys=capsys)
    assert code == 0 and f"to {dest}" in out and "AutoPeftModelForCausalLM" in out
    names = {p.name for p in dest.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert not names & set(RESUME_ONLY), names  # the state to resume training is not part of the model
    # no temporary file: the one hidden file is the manifest of what the export wrote (what --force may replace)
    assert not any(n.startswith("rng_state") or n.startswith(".") for n in names - {".training-console-export.json"})
    torch.testing.assert_close(logits(adapter_on_base(dest)), logits(adapter_on_base(lora_run.path / "model")),
                               atol=0, rtol=0)
    assert_tokenizer_with_chat_template(dest, lora_run)
    assert not list(tmp_path.glob(".*partial*"))


def test_the_export_writes_a_model_card_with_base_data_method_settings_and_figures(lora_run, runs_folder, tmp_path,
                                                                                    capsys):
    """Issue 30: an exported adapter carried peft's blank card ("More Information Needed", the base as [None])."""
    dest = tmp_path / "carded"
    code, _, _ = export(runs_folder, lora_run.id, "--to", str(dest), capsys=capsys)
    card = (dest / "README.md").read_text()
    assert code == 0 and "More Information Needed" not in card and "[None]" not in card, card
    assert "library_name: peft" in card and "lora" in card and lora_run.id in card
    assert "demo dataset" in card and "| learning_rate |" in card and "| lora_r |" in card
    assert "final train loss:" in card and "best eval loss:" in card


def test_merge_gives_the_logits_of_the_adapter_on_its_base(lora_run, runs_folder, tmp_path, monkeypatch, capsys):
    """THE acceptance check: the merged model alone computes what the adapter on the base computes."""
    import torch
    from transformers import AutoModelForCausalLM

    monkeypatch.chdir(tmp_path)
    code, out, _ = export(runs_folder, lora_run.id, "--merge", capsys=capsys)  # default folder: ./<id>-merged
    dest = tmp_path / f"{lora_run.id}-merged"
    assert code == 0 and f"to {dest}" in out, out
    names = {p.name for p in dest.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer_config.json"} <= names
    assert not any(n.startswith("adapter_") for n in names), names  # a plain model: no peft needed
    merged = AutoModelForCausalLM.from_pretrained(str(dest))
    assert type(merged).__name__ == "LlamaForCausalLM" and merged.config.use_cache is True
    assert getattr(merged.config, "quantization_config", None) is None
    on_base = adapter_on_base(lora_run.path / "model")
    torch.testing.assert_close(logits(merged), logits(on_base), atol=1e-4, rtol=1e-4)
    # the adapter changed the model: the check above would not pass with the bare base
    assert (logits(merged) - logits(base_model())).abs().max() > 1e-3
    assert_tokenizer_with_chat_template(dest, lora_run)


# -- full fine-tuning -----------------------------------------------------------------------------------------------

def test_a_full_run_exports_its_model_as_it_is(full_run, runs_folder, tmp_path, monkeypatch, capsys):
    import torch
    from transformers import AutoModelForCausalLM

    monkeypatch.chdir(tmp_path)
    code, out, _ = export(runs_folder, full_run.id, "--merge", capsys=capsys)
    dest = tmp_path / f"{full_run.id}-full"
    assert code == 0 and f"to {dest}" in out
    notes = [line for line in out.splitlines() if "--merge" in line]
    assert len(notes) == 1 and "no adapter to merge" in notes[0]  # --merge is a no-op, said in one line
    names = {p.name for p in dest.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer_config.json"} <= names and not names & set(RESUME_ONLY)
    exported = AutoModelForCausalLM.from_pretrained(str(dest))
    assert exported.config.use_cache is True  # training turned it off; generation wants it
    torch.testing.assert_close(logits(exported),
                               logits(AutoModelForCausalLM.from_pretrained(str(full_run.path / "model"))),
                               atol=0, rtol=0)
    assert_tokenizer_with_chat_template(dest, full_run)


# -- which folder of the run ---------------------------------------------------------------------------------------

def test_checkpoint_best_and_a_named_checkpoint(lora_run, runs_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    best = Path(lora_run.status()["best_checkpoint"]).name
    code, out, _ = export(runs_folder, lora_run.id, "--checkpoint", "best", capsys=capsys)
    dest = tmp_path / f"{lora_run.id}-{best}-adapter"
    assert code == 0 and f"the best checkpoint ({best})" in out and dest.is_dir(), out
    weights = "adapter_model.safetensors"
    assert (dest / weights).read_bytes() == (lora_run.checkpoints / best / weights).read_bytes()
    assert not {p.name for p in dest.iterdir()} & set(RESUME_ONLY)
    for given in ("checkpoint-4", "4"):
        target = tmp_path / f"named-{given}"
        code, _, _ = export(runs_folder, lora_run.id, "--checkpoint", given, "--to", str(target), capsys=capsys)
        assert code == 0
        assert (target / weights).read_bytes() == (lora_run.checkpoints / "checkpoint-4" / weights).read_bytes()


@pytest.mark.parametrize("given, words", [
    ("checkpoint-999", ["no checkpoint-999", "model/ (final)", "checkpoint-4", "checkpoint-8"]),
    ("last-one", ["--checkpoint 'last-one'", "final, best or a checkpoint name"]),
])
def test_a_missing_checkpoint_is_one_line_saying_what_exists(lora_run, runs_folder, tmp_path, given, words, capsys):
    code, out, err = export(runs_folder, lora_run.id, "--checkpoint", given, "--to", str(tmp_path / "x"),
                            capsys=capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert all(w in err for w in words), err
    assert not (tmp_path / "x").exists()


def test_a_run_without_a_model_says_what_exists_and_what_to_do(tmp_path, capsys):
    """A run that failed before any checkpoint, and a run still training: one line each."""
    runs_folder = tmp_path / "runs"
    never = create_run(runs_folder, resolve(build_config("lora", sets=parse_set(FAST))), command=["test"])
    never.write_status("failed", kind="data", message="the dataset has no rows")  # as a trainer that failed says
    code, out, err = export(runs_folder, never.id, "--to", str(tmp_path / "a"), capsys=capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "no final model" in err and "no checkpoint" in err, err

    # a checkpoint at step 2 of a run still training: no evaluation or samples before it, and save_steps kept at 2
    # (load_best_model_at_end would round it up to a multiple of eval_steps)
    config = resolve(build_config("lora", sets=parse_set(FAST + ["max_steps=100000", "save_steps=2",
                                                                  "eval_steps=1000", "eval_on_start=false",
                                                                  "load_best_model_at_end=false",
                                                                  "sample_every=0"])))
    training = create_run(runs_folder, config, command=["test"])
    launch(training)
    try:
        wait_for(lambda: training.last_checkpoint() is not None, timeout=120)
        code, out, err = export(runs_folder, training.id, "--to", str(tmp_path / "b"), capsys=capsys)
        assert code == 2 and len(err.splitlines()) == 1 and "still training" in err and "--checkpoint" in err, err
    finally:
        kill(training)
        wait(training, timeout=30)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_folder_with_files_is_refused_unless_force(lora_run, runs_folder, tmp_path, capsys):
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    (dest / "model.safetensors").write_text("an older export")
    code, _, err = export(runs_folder, lora_run.id, "--to", str(dest), capsys=capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "already exists" in err and "--force" in err
    assert sorted(p.name for p in dest.iterdir()) == ["model.safetensors", "notes.txt"]  # untouched
    code, out, _ = export(runs_folder, lora_run.id, "--to", str(dest), "--force", capsys=capsys)
    assert code == 0
    names = {p.name for p in dest.iterdir()}
    # no export wrote model.safetensors: it stays (named in a note), beside the new adapter files
    assert "notes.txt" in names and "adapter_config.json" in names
    assert (dest / "model.safetensors").read_text() == "an older export"
    assert "which no export wrote" in out and "model.safetensors" in out
    # an empty folder is fine without --force
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export(runs_folder, lora_run.id, "--to", str(empty), capsys=capsys)[0] == 0
    # never into the run folder itself
    code, _, err = export(runs_folder, lora_run.id, "--to", str(lora_run.path / "out"), capsys=capsys)
    assert code == 2 and "inside the run folder" in err


def test_force_never_deletes_a_users_own_model_files(lora_run, runs_folder, tmp_path, capsys):
    """`export RUN --to proj --force` deleted the user's own config.json, generation_config.json and
    model.safetensors in proj/ as "files of an earlier export" although no export wrote them."""
    proj = tmp_path / "proj"
    proj.mkdir()
    mine = {"config.json": '{"mine": 1}', "generation_config.json": '{"mine": 2}', "model.safetensors": "weights"}
    for name, text in mine.items():
        (proj / name).write_text(text)
    code, out, err = export(runs_folder, lora_run.id, "--to", str(proj), "--force", capsys=capsys)
    assert code == 0, err
    assert {name: (proj / name).read_text() for name in mine} == mine  # every one of them as it was
    assert "removed" not in out and "which no export wrote: left as they are" in out
    manifest = json.loads((proj / ".training-console-export.json").read_text())
    assert "adapter_model.safetensors" in manifest["files"] and not set(mine) & set(manifest["files"])


def test_force_refuses_to_replace_a_users_file_and_changes_nothing(lora_run, runs_folder, tmp_path, capsys):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "README.md").write_text("my project's readme")
    code, _, err = export(runs_folder, lora_run.id, "--to", str(proj), "--force", capsys=capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "README.md" in err and "which no export wrote" in err and "--to" in err
    assert [p.name for p in proj.iterdir()] == ["README.md"] and (proj / "README.md").read_text() == "my project's readme"
    assert [p.name for p in tmp_path.iterdir()] == ["proj"]  # no partial folder left beside it


def test_force_replaces_what_an_earlier_export_wrote(lora_run, full_run, runs_folder, tmp_path, capsys):
    dest = tmp_path / "out"
    assert export(runs_folder, full_run.id, "--to", str(dest), capsys=capsys)[0] == 0
    assert (dest / "model.safetensors").is_file()
    (dest / "notes.txt").write_text("mine")
    code, out, err = export(runs_folder, lora_run.id, "--to", str(dest), "--force", capsys=capsys)
    assert code == 0, err
    names = {p.name for p in dest.iterdir()}
    # the full export's weights (it wrote them: its manifest) would load instead of the adapter: removed
    assert "model.safetensors" not in names and "adapter_model.safetensors" in names and "notes.txt" in names
    assert "removed from" in out and "model.safetensors" in out


def test_a_killed_exports_partial_folder_is_removed_by_the_next_export_there(lora_run, runs_folder, tmp_path):
    """A killed `export --merge` left its hidden partial folder (model-sized) for good."""
    import signal

    dest = tmp_path / "merged"
    proc = subprocess.Popen([sys.executable, "-m", "console.tools.export", "--runs-dir", str(runs_folder),
                             lora_run.id, "--merge", "--to", str(dest)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        # killed once its folder is marked as an export's (in the microseconds between the folder and its mark, a
        # kill left a folder no export claims: the test killed there once under load)
        from console.tools.export_target import PARTIAL_MARK

        mark = wait_for(lambda: next(iter(tmp_path.glob(f".merged.partial-*/{PARTIAL_MARK}")), None), timeout=120,
                        poll=0.02)
        partial = mark.parent
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert partial.is_dir() and not dest.exists()
    # a folder of the same pattern that no export marked is not the console's: left alone
    foreign = tmp_path / ".merged.partial-1"
    foreign.mkdir()
    (foreign / "keep").write_text("x")
    done = cli("export", "--runs-dir", str(runs_folder), lora_run.id, "--to", str(dest))
    assert done.returncode == 0, done.stderr
    assert not partial.exists() and (foreign / "keep").is_file()
    assert f"removed {partial.name}" in done.stdout and "killed" in done.stdout


_FULL_DISK_EXPORT = """
import subprocess, sys, os
dest = os.path.join(sys.argv[1], "merged")
done = subprocess.run([sys.executable, "-m", "console.tools.export", "--runs-dir", sys.argv[2], sys.argv[3], "--merge",
                       "--to", dest], capture_output=True, text=True)
print(done.returncode)
print(done.stderr.strip())
print(sorted(os.listdir(sys.argv[1])))
"""


def test_a_full_disk_during_export_merge_is_one_line_naming_the_file(lora_run, runs_folder, tmp_path):
    """Disk full during `export --merge` was a traceback (safetensors' own error). A real 256 KiB file system
    (tmpfs in a mount namespace of its own) that the merged demo model does not fit on."""
    import shutil

    if not shutil.which("unshare"):
        pytest.skip("no unshare(1) to mount a small file system")
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mount = 'mount -t tmpfs -o size=256k tmpfs "$0"'
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", mount, str(folder)], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"cannot mount a tmpfs in a mount namespace here: {probe.stderr.strip()}")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", mount + ' && exec "$1" -c "$2" "$0" "$3" "$4"', str(folder),
                           sys.executable, _FULL_DISK_EXPORT, str(runs_folder), lora_run.id],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    code, message, left = proc.stdout.strip().splitlines()[-3:]
    assert code == "2" and "Traceback" not in proc.stdout, proc.stdout
    assert message.startswith("error: no space left on the disk") and "model.safetensors" in message, message
    assert left == "[]"  # no partial folder, no 0-byte file left on the full disk


def test_push_to_hub_offline_is_one_line_and_keeps_the_folder(lora_run, runs_folder, tmp_path):
    dest = tmp_path / "to-push"
    done = cli("export", "--runs-dir", str(runs_folder), lora_run.id, "--to", str(dest), "--push-to-hub",
               "my-org/demo-adapter", env={"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "offline" in errors[0] and str(dest) in errors[0], done.stderr
    assert (dest / "adapter_model.safetensors").is_file()  # the export is kept
    # online but not logged in (no token anywhere): one line, before any request is made
    anon = cli("export", "--runs-dir", str(runs_folder), lora_run.id, "--to", str(tmp_path / "anon"),
               "--push-to-hub", "my-org/demo-adapter",
               env={"HF_HUB_OFFLINE": "0", "HF_TOKEN": None, "HF_HOME": str(tmp_path / "hf-home"),
                    "HF_TOKEN_PATH": str(tmp_path / "hf-home" / "token")})
    errors = [line for line in anon.stderr.splitlines() if line.startswith("error:")]
    assert anon.returncode == 2 and "Traceback" not in anon.stderr, anon.stderr
    assert len(errors) == 1 and "not logged in" in errors[0] and str(tmp_path / "anon") in errors[0]
    assert (tmp_path / "anon" / "adapter_model.safetensors").is_file()
    # a bad repository name is refused before anything is exported
    bad = cli("export", "--runs-dir", str(runs_folder), lora_run.id, "--to", str(tmp_path / "no"),
              "--push-to-hub", "not a repo")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "ORG/NAME" in bad.stderr
    assert not (tmp_path / "no").exists()


def test_the_console_plans_an_export_without_the_heavy_libraries(lora_run, runs_folder, tmp_path):
    """The runs screen's side of E (plan, question, the child's command line) imports no torch."""
    code = ("import sys\n"
            "from console.runs.rundir import RunDir\n"
            "from screens.workers import exporter\n"
            f"run = RunDir({str(lora_run.path)!r})\n"
            "plans = exporter.plans_for(run)\n"
            "text, choices = exporter.question(run, plans)\n"
            "print(sorted(plans), [c[0] for c in choices], exporter.child_command(plans['merged'])[2:4])\n"
            "print('HEAVY', [m for m in ('torch', 'transformers', 'peft', 'huggingface_hub') if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert "['adapter', 'merged'] ['a', 'm'] ['console.tools.export', " in done.stdout, done.stdout + done.stderr
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr


def test_python_m_console_export_answers_in_json(lora_run, runs_folder, tmp_path):
    """What the console's runs screen runs in its child process."""
    done = subprocess.run([sys.executable, "-m", "console.tools.export", str(lora_run.path), "--to", str(tmp_path / "j"),
                           "--json"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and result["path"] == str(tmp_path / "j") and result["kind"] == "adapter"
    again = subprocess.run([sys.executable, "-m", "console.tools.export", str(lora_run.path), "--to", str(tmp_path / "j"),
                            "--json"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert again.returncode == 2 and "already exists" in json.loads(again.stdout.strip().splitlines()[-1])["error"]
    assert "Traceback" not in again.stdout + again.stderr


# -- QLoRA ------------------------------------------------------------------------------------------------------------

def test_a_qlora_run_merges_into_the_float_base(trained, runs_folder, tmp_path, capsys):
    pytest.importorskip("bitsandbytes", reason="QLoRA needs bitsandbytes")
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from console.trainer.model import model_source

    run = trained.finished("qlora")
    dest = tmp_path / "qlora-merged"
    code, out, _ = export(runs_folder, run.id, "--merge", "--to", str(dest), capsys=capsys)
    assert code == 0 and "not in 4-bit" in out, out
    merged = AutoModelForCausalLM.from_pretrained(str(dest))
    assert getattr(merged.config, "quantization_config", None) is None
    assert all(p.dtype == torch.float32 for p in merged.parameters())  # the demo base's own dtype, not 4-bit
    # merged into the float base: exactly the adapter on that base
    torch.testing.assert_close(logits(merged), logits(adapter_on_base(run.path / "model")), atol=1e-4, rtol=1e-4)

    # against what training saw (the adapter on the 4-bit base, dequantised): apart by the base's own
    # quantisation error, and no more
    def dequantised_base():
        quantised = AutoModelForCausalLM.from_pretrained(
            model_source({}), dtype=torch.float32, device_map={"": "cpu"},
            quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                   bnb_4bit_use_double_quant=True,
                                                   bnb_4bit_compute_dtype=torch.float32))
        return quantised.dequantize()

    from peft import PeftModel

    on_dequantised = logits(PeftModel.from_pretrained(dequantised_base(), str(run.path / "model")))
    quantisation_error = (logits(base_model()) - logits(dequantised_base())).abs().max().item()
    torch.testing.assert_close(logits(merged), on_dequantised, atol=1.5 * quantisation_error, rtol=0)
    assert_tokenizer_with_chat_template(dest, run)


# -- the runs screen's E key -------------------------------------------------------------------------------------

async def test_runs_screen_e_exports_in_a_child_process_and_says_where(lora_run, runs_folder, tmp_path,
                                                                       monkeypatch):
    from screens.app import TrainingConsoleApp
    from screens.confirm import ConfirmScreen
    from screens.runs_screen import RunsScreen
    from tests.support.screens import wait_for as pilot_wait_for

    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRAINING_CONSOLE_CPU", "1")
    monkeypatch.chdir(tmp_path)
    app = TrainingConsoleApp(runs_dir=str(runs_folder), poll=0.02)
    dest = tmp_path / f"{lora_run.id}-merged"
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("u")
        await pilot_wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.filled, what="runs screen")
        screen = app.screen
        row = next(i for i, r in enumerate(screen.runs) if r.id == lora_run.id)
        screen.query_one("DataTable").move_cursor(row=row)
        await pilot.pause()
        await pilot.press("E")
        await pilot_wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        question = str(app.screen.query_one("#question").render())
        assert "adapter" in question and str(dest) in question
        await pilot.press("m")
        await pilot_wait_for(pilot, lambda: any(str(dest) in str(n.message) and n.message.startswith("exported")
                                                for n in app._notifications), timeout=240, what="the export's notice")
        assert isinstance(app.screen, RunsScreen)
        assert not any(n.severity == "error" for n in app._notifications)
    assert (dest / "model.safetensors").is_file() and (dest / "tokenizer_config.json").is_file()


def test_the_key_still_offers_both_exports_when_an_earlier_export_left_its_folder(lora_run, tmp_path):
    """A new user exported the adapter with E, then every later E refused ("... -adapter already exists and holds
    files: ... --force"), so the merged model could not be exported from the console."""
    from screens.workers import exporter

    first = exporter.plans_for(lora_run, cwd=tmp_path)
    first["adapter"].dest.mkdir(parents=True)
    (first["adapter"].dest / "adapter_model.safetensors").write_bytes(b"x")  # what the first export left
    again = exporter.plans_for(lora_run, cwd=tmp_path)
    assert sorted(again) == ["adapter", "merged"]
    assert again["adapter"].dest != first["adapter"].dest and again["adapter"].dest.name.endswith("-adapter-2")
    assert again["merged"].dest == first["merged"].dest  # still free


def test_a_cut_final_model_is_refused_in_one_line_naming_the_file(lora_run, tmp_path, capsys):
    """A corrupt model/ exported "as a success"."""
    import shutil

    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(lora_run.path, runs / lora_run.id)
    weights = runs / lora_run.id / "model" / "adapter_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "out"
    code, _, err = export(runs, lora_run.id, "--to", str(dest), capsys=capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "final model cannot be exported: model/adapter_model.safetensors is cut" in err and "--checkpoint" in err
    assert not dest.exists()
