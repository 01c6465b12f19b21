"""Preference training (DPO, KTO) of a real pretrained model through the console, measured (SmolLM2-135M-Instruct
on the CPU).

    OMP_NUM_THREADS=1 python bench/preference_real.py      # the defaults: about 15 minutes on a loaded 2-core CPU
    python bench/preference_real.py --steps 40 --kto-steps 20 --budget 90    # the longer runs, on a quiet machine
    python bench/preference_real.py --keep DIR             # keep the data, run folders and plain adapters in DIR

The data: the standard-library docstring questions of bench/real_model.py (text nobody on this project wrote),
made into preference pairs: prompt = the question, chosen = its own answer, rejected = the answer of another
question of about the same length (its neighbour in length order, in the same split), with a fixed seed. Train
pairs and held-out pairs come from different questions.

DPO (LoRA, the console's LoRA preset: r, alpha, dropout, targets) trained twice per pair of runs, alternating:
- through the console's engine (build_config, resolve, loop.next_run.start: the same path as `training-console
  train`), the trainer process blocked on, not polled;
- by a plain script (TRL's DPOTrainer + peft's LoraConfig, written below as PLAIN and run in its own process),
  given the same pairs and the seed, learning rate, steps, batch, max_length, beta, loss, scheduler and warmup that
  the console's run wrote in its config.yaml.
For each run: the held-out share of pairs whose implicit reward prefers the chosen answer,
  log p(chosen) - log p_base(chosen) > log p(rejected) - log p_base(rejected)
(sums of the answer tokens' log-probabilities given the prompt through the chat template, the answer's end of turn
included; p_base is the model before training; the console's adapter is read from RUN/model with peft), and the
training throughput in steps/s over the steps after the first (the wall time of each step's log: the console's
metrics.jsonl, a callback in the plain script); the median of the pairs' console/plain ratios. The base model's own
share is the sanity check: re-scored through the peft model with the adapters off, every margin is 0 (a share of
0, 0.5 counting ties as half), and the largest difference from the first scoring says the scoring is repeatable.
The adapters of runs with the same seed and settings are compared weight by weight (0: reproducible).
Then KTO through the console's CLI (`training-console train`) on the same pairs split into unpaired rows (each
pair's chosen answer labelled true, its rejected false): that it finished, its loss and rewards/margins.

Time: on this 2-core CPU shared with other jobs (load 6 to 12) a DPO step at batch 4 took 35-55 s (the policy sees 8
sequences forward and backward, the reference 8 forward; OMP_NUM_THREADS=1), a run's start about 25 s, scoring
one model on the 60 held-out pairs 60-100 s. So the defaults are short: DPO 4 steps (the first at learning rate 0,
warmup being 10% of the steps rounded up), KTO 4 steps; the parts the bench exists for run first (one pair, its
shares, KTO), and further pairs (scored while time is left) only while they fit in --budget minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import real_model  # noqa: E402

SEED = 0
N_TRAIN, N_HELD_OUT = 200, 60
# The settings of every DPO run (console and plain); eval, saving inside the loop and sample answers off, a log
# each step for the per-step wall times.
DPO = {"max_steps": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "max_length": 256,
       "learning_rate": 5e-5, "beta": 0.1, "logging_steps": 1, "eval_strategy": "no", "save_strategy": "no",
       "load_best_model_at_end": False, "eval_on_start": False, "sample_every": 0}
KTO = {"max_steps": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "max_length": 256,
       "learning_rate": 5e-5, "beta": 0.1, "logging_steps": 1, "eval_strategy": "no", "save_strategy": "no",
       "load_best_model_at_end": False, "eval_on_start": False, "sample_every": 0}
# What the plain script takes from the console run's config.yaml (everything else: TRL's own defaults).
PLAIN_KEYS = ("seed", "learning_rate", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
              "max_length", "beta", "loss_type", "lr_scheduler_type", "warmup_steps", "weight_decay",
              "max_grad_norm", "logging_steps", "logging_first_step", "fp16", "bf16")


# -- the data ----------------------------------------------------------------------------------------------------

def _qa_rows() -> list[dict]:
    """Every question/answer row of the cached dataset (its train and validation files), as written by
    bench/real_model.py, built there first if missing."""
    folder = real_model.default_dataset_dir() / "prompt_completion"
    if not (folder / "train.jsonl").exists():
        real_model.build_dataset(real_model.default_dataset_dir())
    rows = []
    for name in ("train.jsonl", "validation.jsonl"):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows.append({"question": row["prompt"], "answer": row["completion"]})
    return rows


def _pairs(rows: list[dict], rng: random.Random) -> list[dict]:
    """Each row with the answer of another row of about the same length as its rejected answer: rows in order of
    answer length, each paired with a random one of its nearest neighbours (never its own answer)."""
    order = sorted(range(len(rows)), key=lambda i: (len(rows[i]["answer"]), rows[i]["question"]))
    out = []
    for pos, i in enumerate(order):
        near = [order[p] for p in range(max(0, pos - 2), min(len(order), pos + 3)) if p != pos
                and rows[order[p]]["answer"].strip() != rows[i]["answer"].strip()]
        j = rng.choice(near)
        out.append({"prompt": rows[i]["question"], "chosen": rows[i]["answer"], "rejected": rows[j]["answer"]})
    rng.shuffle(out)
    return out


def make_data(out: Path, n_train: int = N_TRAIN, n_held_out: int = N_HELD_OUT, seed: int = SEED) -> dict:
    """out/dpo/train.jsonl (train pairs), out/held_out.jsonl (held-out pairs), out/kto/train.jsonl (the train
    pairs as unpaired rows: chosen labelled true, rejected false)."""
    rows = _qa_rows()
    rng = random.Random(seed)
    rng.shuffle(rows)
    if len(rows) < n_train + n_held_out:
        raise SystemExit(f"only {len(rows)} question/answer rows cached; need {n_train + n_held_out}")
    held_out = _pairs(rows[:n_held_out], rng)
    train = _pairs(rows[n_held_out:n_held_out + n_train], rng)
    kto = [r for p in train for r in ({"prompt": p["prompt"], "completion": p["chosen"], "label": True},
                                      {"prompt": p["prompt"], "completion": p["rejected"], "label": False})]
    paths = {"dpo": out / "dpo" / "train.jsonl", "held_out": out / "held_out.jsonl", "kto": out / "kto" / "train.jsonl"}
    for key, data in (("dpo", train), ("held_out", held_out), ("kto", kto)):
        paths[key].parent.mkdir(parents=True, exist_ok=True)
        paths[key].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data), encoding="utf-8")
    print(f"data: {len(rows)} cached question/answer rows -> {len(train)} train pairs, {len(held_out)} held-out "
          f"pairs, {len(kto)} KTO rows, in {out}", flush=True)
    return paths


# -- the console's run ---------------------------------------------------------------------------------------------

def console_dpo(runs: Path, dataset: Path, settings: dict, name: str):
    """One LoRA DPO run through the engine (as `training-console train` starts it); returns the finished run."""
    from console.config.run_config import build_config, resolve
    from console.loop.next_run import start
    from console.runs import launcher

    config = resolve(build_config("lora", sets={k: str(v) for k, v in settings.items()},
                                  model=str(real_model.ensure_real_model()), dataset=str(dataset)))
    run = start(runs, config, command=["bench/preference_real.py"], name=name)
    # Block on the trainer process (its pid from status.json) rather than poll: the plain script is not polled.
    pid = run.status().get("pid")
    if pid:
        launcher.wait_exit(int(pid))
    status = launcher.wait(run)
    if status.get("phase") != "done":
        raise SystemExit(f"console DPO run {run.path}: {status.get('phase')}: {status.get('message')}\n"
                         f"train.log tail:\n" + "\n".join(run.tail_log(30)))
    return run


def metrics(run_path: Path) -> list[dict]:
    return [json.loads(line) for line in (run_path / "metrics.jsonl").read_text().splitlines() if line.strip()]


def steady_rate(times: list[tuple[int, float]]) -> float:
    """Steps per second after the first step: from the first step's log to the last step's."""
    (s0, t0), (s1, t1) = times[0], times[-1]
    return (s1 - s0) / (t1 - t0)


def console_figures(run) -> dict:
    records = metrics(run.path)
    steps = [(r["step"], r["time"]) for r in records if "loss" in r and "train_runtime" not in r]
    final = next(r for r in reversed(records) if "train_runtime" in r)
    last = [r for r in records if "loss" in r and "train_runtime" not in r][-1]
    return {"steps_per_s": steady_rate(steps), "runtime": final["train_runtime"], "loss": last["loss"],
            "train_acc": last.get("rewards/accuracies"), "margin": last.get("rewards/margins"),
            "adapter": run.path / "model"}


# -- the plain script ----------------------------------------------------------------------------------------------

PLAIN = r'''
# What a user would write by hand with TRL and peft: LoRA DPO on a JSONL of prompt/chosen/rejected pairs.
import json, sys, time
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import DPOConfig, DPOTrainer


class Clock(TrainerCallback):  # the wall time of each training log, as the console's metrics.jsonl has it
    def __init__(self):
        self.times = []

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs and "train_runtime" not in logs:
            self.times.append((state.global_step, time.time()))


model_dir, data_file, out_dir, lora, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), json.loads(sys.argv[5])
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir)
rows = load_dataset("json", data_files=data_file)["train"]
rows = rows.map(lambda r: {"prompt": [{"role": "user", "content": r["prompt"]}],
                           "chosen": [{"role": "assistant", "content": r["chosen"]}],
                           "rejected": [{"role": "assistant", "content": r["rejected"]}]})
clock = Clock()
trainer = DPOTrainer(model=model, args=DPOConfig(output_dir=out_dir, save_strategy="no", report_to="none",
                                                 disable_tqdm=True, **args),
                     train_dataset=rows, processing_class=tok, callbacks=[clock],
                     peft_config=LoraConfig(task_type="CAUSAL_LM", **lora))
out = trainer.train()
trainer.save_model(out_dir + "/model")
last = [r for r in trainer.state.log_history if "loss" in r and "train_runtime" not in r][-1]
print("RESULT " + json.dumps({"runtime": out.metrics["train_runtime"], "times": clock.times, "loss": last["loss"],
                              "train_acc": last.get("rewards/accuracies"), "margin": last.get("rewards/margins")}))
'''


def plain_settings(run) -> tuple[dict, dict]:
    """(LoraConfig's arguments, DPOConfig's arguments) from the console run's config.yaml."""
    import yaml

    values = yaml.safe_load((run.path / "config.yaml").read_text())["arguments"]
    targets = values.get("lora_target_modules") or "all-linear"
    lora = {"r": int(values["lora_r"]), "lora_alpha": float(values["lora_alpha"]),
            "lora_dropout": float(values["lora_dropout"]), "target_modules": targets}
    args = {k: values[k] for k in PLAIN_KEYS if values.get(k) is not None}
    # the run's precision said outright: TRL's configs default to bf16, which a CPU-only machine refuses
    args["bf16"], args["fp16"] = bool(values.get("bf16")), bool(values.get("fp16"))
    return lora, args


def plain_dpo(template_run, dataset: Path, out_dir: Path) -> dict:
    lora, args = plain_settings(template_run)
    out_dir.mkdir(parents=True, exist_ok=True)
    script = out_dir / "plain_dpo.py"
    script.write_text(PLAIN)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, str(script), str(real_model.ensure_real_model()), str(dataset),
                           str(out_dir), json.dumps(lora), json.dumps(args)], env=env, capture_output=True, text=True)
    (out_dir / "plain.log").write_text(proc.stdout + proc.stderr)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit("plain TRL script failed:\n" + proc.stderr[-3000:])
    got = json.loads(line[7:])
    return {"steps_per_s": steady_rate(got["times"]), "runtime": got["runtime"], "loss": got["loss"],
            "train_acc": got["train_acc"], "margin": got["margin"], "adapter": out_dir / "model",
            "lora": lora, "args": args}


# -- the held-out share --------------------------------------------------------------------------------------------

def _sequences(tok, pairs: list[dict]) -> list[tuple[list[int], int]]:
    """(ids of the chat-templated conversation, number of prompt tokens) for each pair's chosen, then rejected."""
    seqs = []
    for p in pairs:
        user = {"role": "user", "content": p["prompt"]}
        prompt = tok.apply_chat_template([user], add_generation_prompt=True, tokenize=True,
                                         return_dict=True)["input_ids"]
        for answer in (p["chosen"], p["rejected"]):
            full = tok.apply_chat_template([user, {"role": "assistant", "content": answer}], tokenize=True,
                                           return_dict=True)["input_ids"]
            if full[:len(prompt)] != prompt:
                raise SystemExit(f"the templated prompt is not a prefix of the templated conversation: {p['prompt']!r}")
            seqs.append((full, len(prompt)))
    return seqs


def answer_logps(model, seqs: list[tuple[list[int], int]], pad_id: int, batch: int = 8) -> list[tuple[float, float]]:
    """(log p(chosen | prompt), log p(rejected | prompt)) per pair: the sum over the answer's tokens (its end of turn
    included) given the templated prompt. Batches of similar length, right-padded; logits only from the first answer
    position of the batch on (the vocabulary projection of the prompt tokens is not needed)."""
    import torch

    sums = [0.0] * len(seqs)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i][0]))
    with torch.no_grad():
        for start in range(0, len(order), batch):
            chunk = order[start:start + batch]
            width = max(len(seqs[i][0]) for i in chunk)
            first = min(seqs[i][1] for i in chunk) - 1  # the position whose logits predict the first answer token
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                ids[row, :len(seqs[i][0])] = torch.tensor(seqs[i][0])
                mask[row, :len(seqs[i][0])] = 1
            logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=width - first).logits.float()
            logps = torch.log_softmax(logits[:, :-1], -1)  # positions first .. width-2 predict first+1 .. width-1
            targets = ids[:, first + 1:]
            token_logps = logps.gather(-1, targets[..., None])[..., 0]
            for row, i in enumerate(chunk):
                seq, n_prompt = seqs[i]
                sums[i] = float(token_logps[row, n_prompt - 1 - first:len(seq) - 1 - first].sum())
    return list(zip(sums[0::2], sums[1::2]))


def share(tuned: list[tuple[float, float]], base: list[tuple[float, float]], tie: float = 0.0) -> tuple[float, float]:
    """(share of pairs whose implicit reward prefers chosen, the same counting ties as half); a margin within
    `tie` of 0 is a tie."""
    margins = [(c - bc) - (r - br) for (c, r), (bc, br) in zip(tuned, base)]
    wins = sum(m > tie for m in margins)
    ties = sum(abs(m) <= tie for m in margins)
    return wins / len(margins), (wins + 0.5 * ties) / len(margins)


class Scorer:
    """The base model, and each trained adapter laid on it in turn (peft), scoring the held-out pairs."""

    def __init__(self, held_out: Path):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        t = time.time()
        folder = real_model.ensure_real_model()
        self.tok = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        self.pairs = [json.loads(line) for line in held_out.read_text().splitlines() if line.strip()]
        self.seqs = _sequences(self.tok, self.pairs)
        self.base = answer_logps(self.model, self.seqs, self.tok.pad_token_id)
        self.peft = None
        self.seconds = time.time() - t
        self.raw = sum(c > r for c, r in self.base) / len(self.base)
        print(f"base model scored on {len(self.pairs)} held-out pairs in {self.seconds:.0f} s: log p(chosen) > "
              f"log p(rejected) in {self.raw:.2f} of them (the pairs' own difficulty, before any training)",
              flush=True)

    def adapter_share(self, adapter: Path, name: str) -> tuple[float, float]:
        from peft import PeftModel

        if self.peft is None:
            self.peft = PeftModel.from_pretrained(self.model, str(adapter), adapter_name=name)
        else:
            self.peft.load_adapter(str(adapter), adapter_name=name)
        self.peft.set_adapter(name)
        self.peft.eval()
        return share(answer_logps(self.peft, self.seqs, self.tok.pad_token_id), self.base)

    def base_share(self, n: int = 8) -> tuple[float, float, float]:
        """The base's own share, (strict, ties half, largest |log p| difference), re-scored on the first n pairs
        through the peft model with every adapter switched off: 0 and 0.5 with a difference near 0 when the
        adapters really switch off and the scoring is repeatable (every margin is then 0)."""
        seqs = self.seqs[:2 * n]
        if self.peft is None:
            again = answer_logps(self.model, seqs, self.tok.pad_token_id)
        else:
            with self.peft.disable_adapter():
                again = answer_logps(self.peft, seqs, self.tok.pad_token_id)
        diff = max(abs(a - b) for x, y in zip(again, self.base[:n]) for a, b in zip(x, y))
        # batches of other shapes than the first scoring's may round differently in the last bits: 1e-3 nats a tie
        return (*share(again, self.base[:n], tie=1e-3), diff)


# -- KTO through the CLI -------------------------------------------------------------------------------------------

def kto_cli(runs: Path, dataset: Path, settings: dict) -> tuple[list[str], dict]:
    command = ["training-console", "train", "--method", "lora", "--model", str(real_model.ensure_real_model()),
               "--dataset", str(dataset), "--runs-dir", str(runs), "--name", "kto"]
    for key, value in settings.items():
        command += ["--set", f"{key}={value}"]
    exe = Path(sys.executable).parent / "training-console"
    proc = subprocess.run([str(exe) if exe.exists() else command[0], *command[1:]], capture_output=True, text=True)
    run_dirs = sorted((p for p in runs.iterdir() if p.is_dir() and "kto" in p.name), key=lambda p: p.stat().st_mtime)
    if not run_dirs:
        return command, {"ok": False, "error": f"no run folder (exit {proc.returncode}): "
                                               f"{(proc.stdout + proc.stderr)[-2000:]}"}
    run = run_dirs[-1]
    status = json.loads((run / "status.json").read_text())
    if status.get("phase") != "done" or proc.returncode != 0:
        tail = (run / "train.log").read_text().splitlines()[-30:] if (run / "train.log").exists() else []
        return command, {"ok": False, "error": f"{status.get('phase')}: {status.get('message')} (exit "
                                               f"{proc.returncode})\ntrain.log tail:\n" + "\n".join(tail), "run": run}
    records = metrics(run)
    logs = [r for r in records if "loss" in r and "train_runtime" not in r]
    objective = json.loads((run / "run.json").read_text()).get("objective") if (run / "run.json").exists() else None
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text())
    return command, {"ok": True, "run": run, "steps": logs[-1]["step"], "loss": logs[-1]["loss"],
                     "margin": logs[-1].get("rewards/margins"), "kl": logs[-1].get("kl"),
                     "first_loss": logs[0]["loss"], "objective": cfg.get("objective") or objective,
                     "adapter_saved": (run / "model" / "adapter_model.safetensors").exists()}


# -- the bench -----------------------------------------------------------------------------------------------------

def _config_only(runs: Path, dpo: dict, dataset: Path, name: str):
    """The console's run folder for these settings, config written, never launched (the plain script's settings
    when the plain run goes first in its pair)."""
    from console.config.run_config import build_config, resolve
    from console.runs.rundir import create_run

    config = resolve(build_config("lora", sets={k: str(v) for k, v in dpo.items()},
                                  model=str(real_model.ensure_real_model()), dataset=str(dataset)))
    return create_run(runs, config, command=["bench/preference_real.py (config only)"], name=name)


def run_pair(i: int, runs: Path, work: Path, dataset: Path, dpo: dict) -> dict:
    order = ("console", "plain") if i % 2 == 0 else ("plain", "console")
    got = {}
    for who in order:
        t = time.time()
        if who == "console":
            run = console_dpo(runs, dataset, dpo, f"dpo-{i + 1}")
            got["console"] = dict(console_figures(run), run=run)
        else:
            template = got["console"]["run"] if "console" in got else _config_only(runs, dpo, dataset,
                                                                                   f"config-{i + 1}")
            got["plain"] = plain_dpo(template, dataset, work / f"plain-{i + 1}")
        got[who]["seconds"] = time.time() - t
        g = got[who]
        print(f"pair {i + 1} {who:7}: {g['steps_per_s']:.4f} steps/s after the first step, {g['seconds']:.0f} s in "
              f"all (train_runtime {g['runtime']:.0f} s); last step loss {g['loss']:.4f}, train rewards/accuracies "
              f"{g['train_acc']}, margins {g['margin']}", flush=True)
    got["order"] = order
    return got


def _num(x, fmt=".3f") -> str:
    return format(x, fmt) if isinstance(x, (int, float)) else "-"


def adapter_diff(a: Path, b: Path) -> float:
    """The largest absolute difference between two saved adapters' weights (inf when their tensors differ in name or
    shape)."""
    from safetensors.torch import load_file

    x, y = load_file(str(a / "adapter_model.safetensors")), load_file(str(b / "adapter_model.safetensors"))
    if x.keys() != y.keys() or any(x[k].shape != y[k].shape for k in x):
        return float("inf")
    return max(float((x[k] - y[k]).abs().max()) for k in x)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=DPO["max_steps"], help="DPO steps per run")
    p.add_argument("--pairs", type=int, default=2, help="console/plain pairs of DPO runs, at most (see --budget)")
    p.add_argument("--kto-steps", type=int, default=KTO["max_steps"])
    p.add_argument("--budget", type=float, default=15,
                   help="minutes: pairs after the first (and their scoring) run only while they fit in them")
    p.add_argument("--keep", help="keep the data and the runs here (default: a temporary folder)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t_all = time.time()
    real_model.ensure_real_model()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="preference-real-"))
    work.mkdir(parents=True, exist_ok=True)
    runs = work / "runs"
    paths = make_data(work / "data")
    dpo = dict(DPO, max_steps=args.steps)
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}; DPO {args.steps} steps per run, up to "
          f"{args.pairs} pairs in a {args.budget:g}-minute budget; KTO {args.kto_steps} steps", flush=True)

    # The parts the bench exists for first (one pair, its held-out shares, KTO); further pairs fill the budget.
    scorer = Scorer(paths["held_out"])
    results = [run_pair(0, runs, work, paths["dpo"], dpo)]

    def score(got, i):
        t = time.time()
        for who in ("console", "plain"):
            got[who]["share"] = scorer.adapter_share(got[who]["adapter"], f"{who}{i + 1}")
            print(f"pair {i + 1} {who:7}: held-out share {got[who]['share'][0]:.3f}", flush=True)
        got["scoring_s"] = time.time() - t

    score(results[0], 0)
    base_share, raw = scorer.base_share(), scorer.raw

    t = time.time()
    kto_command, kto = kto_cli(runs, paths["kto"], dict(KTO, max_steps=args.kto_steps))
    kto_seconds = time.time() - t
    if kto["ok"]:
        print(f"KTO: done in {kto_seconds:.0f} s", flush=True)
    else:
        print(f"KTO: FAILED after {kto_seconds:.0f} s", flush=True)

    for i in range(1, args.pairs):
        last = results[-1]
        train_s = last["console"]["seconds"] + last["plain"]["seconds"]
        left = args.budget * 60 - (time.time() - t_all)
        if train_s > left:
            print(f"pair {i + 1} skipped: its two runs take about {train_s:.0f} s, {max(left, 0):.0f} s of the "
                  f"{args.budget:g}-minute budget left", flush=True)
            break
        got = run_pair(i, runs, work, paths["dpo"], dpo)
        results.append(got)
        left = args.budget * 60 - (time.time() - t_all)
        if results[0]["scoring_s"] <= left:
            score(got, i)
        else:
            print(f"pair {i + 1} not scored: scoring takes about {results[0]['scoring_s']:.0f} s, {max(left, 0):.0f} "
                  f"s of the budget left", flush=True)

    first = results[0]
    ratios = [g["console"]["steps_per_s"] / g["plain"]["steps_per_s"] for g in results]
    threads = os.environ.get("OMP_NUM_THREADS")
    command = (f"OMP_NUM_THREADS={threads} " if threads else "") + "python bench/preference_real.py " + shlex.join(
        argv if argv is not None else sys.argv[1:])
    print()
    print(f"command: {command.strip()}")
    print(f"DPO, LoRA r {first['plain']['lora']['r']} alpha {first['plain']['lora']['lora_alpha']:g} dropout "
          f"{first['plain']['lora']['lora_dropout']:g} on {first['plain']['lora']['target_modules']}, SmolLM2-135M-"
          f"Instruct, fp32 CPU; {dpo['max_steps']} steps at batch {dpo['per_device_train_batch_size']}x"
          f"{dpo['gradient_accumulation_steps']}, max_length {dpo['max_length']}, lr {dpo['learning_rate']:g}, beta "
          f"{dpo['beta']}; {N_TRAIN} train pairs, {N_HELD_OUT} held-out pairs")
    print(f"plain script's settings, from the console run's config.yaml: DPOConfig {first['plain']['args']}")
    print(f"{'model':12} {'held-out share':>14} {'ties half':>10} {'steps/s':>9} {'last loss':>10} "
          f"{'train acc':>10} {'margin':>8}")
    print(f"{'base':12} {base_share[0]:14.3f} {base_share[1]:10.3f}   (re-scored with the adapters off: max |diff| "
          f"{base_share[2]:.1e} nats; log p(chosen) > log p(rejected) in {raw:.3f} of the pairs)")
    for i, got in enumerate(results):
        for who in got["order"]:
            g = got[who]
            shares = (f"{g['share'][0]:14.3f} {g['share'][1]:10.3f}" if "share" in g
                      else f"{'(not scored)':>14} {'':>10}")
            print(f"{who + ' ' + str(i + 1):12} {shares} {g['steps_per_s']:9.4f} {g['loss']:10.4f} "
                  f"{_num(g['train_acc']):>10} {_num(g['margin']):>8}")
    print(f"throughput console/plain (steps/s after the first step): pairs {', '.join(f'{r:.3f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.3f}")
    print(f"adapters, largest weight difference: console 1 vs plain 1 "
          f"{adapter_diff(first['console']['adapter'], first['plain']['adapter']):.2e}" + "".join(
              f"; {who} {i + 1} vs {who} 1 {adapter_diff(got[who]['adapter'], first[who]['adapter']):.2e}"
              for i, got in enumerate(results[1:], 1) for who in ("console", "plain"))
          + " (same seed and settings: 0 when the run is reproducible)")
    if kto["ok"]:
        print(f"KTO (LoRA) through the CLI: done, objective {kto['objective']}, {kto['steps']} steps in "
              f"{kto_seconds:.0f} s; loss {kto['first_loss']:.4f} (step 1) -> {kto['loss']:.4f} (last), "
              f"rewards/margins {_num(kto['margin'], '.4f')}, kl {_num(kto['kl'], '.4f')}; adapter saved: "
              f"{kto['adapter_saved']}")
    else:
        print(f"KTO through the CLI: FAILED: {kto['error']}")
    print(f"KTO command: {shlex.join(kto_command)}")
    print(f"total {time.time() - t_all:.0f} s; data and runs in {work}")
    return 0 if kto["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
