"""The model card (README.md) an export writes: the base, the data, the method, the settings and the final figures.

peft's save_pretrained leaves a blank card ("More Information Needed" under every heading, the base named `[None]`
for a local model), which is what an exported adapter carried. The card's metadata header is huggingface_hub's
ModelCardData (the fields the Hub reads: base_model, library_name, tags); the body is ours, from the run folder.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only
    from console.tools.export_plan import ExportPlan

# the settings a reader of the card asks for first (those the run has; the rest are in config.yaml)
SETTINGS = ("learning_rate", "lr_scheduler_type", "warmup_steps", "num_train_epochs", "max_steps",
            "per_device_train_batch_size", "gradient_accumulation_steps", "max_length", "weight_decay",
            "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "adapter_type", "load_in_4bit")


def model_card(plan: ExportPlan) -> str:
    """The card's text for the export `plan` describes."""
    from huggingface_hub import ModelCardData

    from console.common.numbers import fmt
    from console.config.analysis import OBJECTIVE_WORDS
    from console.loop.findings import run_findings, title_of
    from console.runs.history_store import run_history
    from console.runs.progress import duration, progress

    run = plan.run
    config = run.config()
    status = run.status()
    p = progress(run_history(run.path), status)
    base = plan.base or "?"
    data = ModelCardData(base_model=None if plan.demo else base,
                         library_name="peft" if plan.kind == "adapter" else "transformers",
                         tags=["training-console", config.objective, plan.method])
    dataset = config.get("dataset") or "the built-in demo dataset"
    lines = ["---", data.to_yaml(), "---", "",
             f"# {run.id}", "",
             f"{plan.what.rstrip(',')}: fine-tuned from {plan.base_name} with {plan.method} "
             f"({OBJECTIVE_WORDS.get(config.objective, config.objective)}) by Training Console.", "",
             "## Data", "",
             f"- dataset: `{dataset}`" + (f" ({config.get('dataset_format')} format)"
                                          if config.get("dataset_format") not in (None, "auto") else "")]
    if status.get("data"):
        lines.append(f"- {status['data']}")
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|", f"| method | {plan.method} |"]
    for key in SETTINGS:
        value = config.get(key)
        if value is not None and value != "":
            lines.append(f"| {key} | {fmt(value) if isinstance(value, float) else value} |")
    lines += ["", "The run's whole config is its `config.yaml` in the runs folder.", "", "## Results", "",
              f"- steps trained: {int(p.step)}" + (f" of {p.max_steps}" if p.max_steps else "")
              + (f", in {duration(status['seconds'])}" if isinstance(status.get("seconds"), (int, float)) else ""),
              f"- final train loss: {fmt(p.train_loss) if p.train_loss is not None else 'not logged'}"]
    if p.best_eval is not None:
        lines.append(f"- best eval loss: {fmt(p.best_eval)} at step {int(p.best_eval_step)}; last: {fmt(p.eval_loss)}")
    lines.append(f"- exported: {plan.label}")
    findings = run_findings(run, config)
    if findings:
        lines.append("- the console's findings: " + "; ".join(title_of(f) for f in findings))
    return "\n".join(lines) + "\n"
