"""What DPO and KTO share as the console runs them (trainer process only: imports trl): the arguments their TRL
config takes, the reference model, the build with the run's callbacks, and what they say after building.

The reference model: with an adapter (LoRA, QLoRA, another PEFT adapter) TRL computes the reference from the same
weights with the adapter set to its starting copy (a frozen 'ref' adapter TRL adds: a small copy, not a second
model); with full fine-tuning a frozen copy of the starting model, which the memory estimate counts
(console/config/memory.py).
"""
from __future__ import annotations

import copy
import dataclasses


def config_arguments(config_class, arguments: dict, report=None) -> object:
    """The TRL config of a preference trainer from the console's arguments (already restricted to the objective's
    own by RunConfig.training_arguments); loss_type given as 'sigmoid,sft' becomes TRL's list."""
    names = {f.name for f in dataclasses.fields(config_class)}
    args = {k: v for k, v in arguments.items() if k in names}
    loss = args.get("loss_type")
    if isinstance(loss, str) and "," in loss:
        args["loss_type"] = [w.strip() for w in loss.split(",") if w.strip()]
    return config_class(**args)


def reference_model(method: str, model):
    """The frozen reference for full fine-tuning (a copy of the starting weights); None with an adapter, where TRL
    takes the starting adapter as the reference."""
    if method not in ("full",):
        return None
    ref = copy.deepcopy(model)
    ref.eval()
    for param in ref.parameters():
        param.requires_grad_(False)
    return ref


def say_reference(report, method: str, trainer_name: str) -> None:
    if method == "full":
        report.say(f"[console] {trainer_name}: the reference is a frozen copy of the starting model")
    else:
        report.say(f"[console] {trainer_name}: the reference is the starting model (the adapter at its starting "
                   f"weights; no second copy of the model)")
