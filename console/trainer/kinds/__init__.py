"""Kinds of trainer: one module per training objective, each holding what is its own (supervised
fine-tuning, DPO, KTO), listed once in KINDS. console/trainer/train.py runs whichever the run
asks for the same way: load the model, `prepare` the data, build the `arguments`, `build` the trainer, train, save.

A kind module provides:
    NAME                                                   the kind's name
    prepare(values, tokenizer, need_eval, seed)            -> (train split, eval split or None, PreparedData-like:
                                                              .fmt, .templated, .describe())
    arguments(training_arguments: dict)                    -> its TRL config (a TrainingArguments subclass)
    build(config, report, *, model, args, train_dataset, eval_dataset, tokenizer, callbacks)
                                                           -> the Trainer, ready to train, having said in the run's
                                                              log and status what only it knows (e.g. what max_length
                                                              cut)
"""
from __future__ import annotations

from types import ModuleType

from console.trainer.kinds import dpo, kto, sft

KINDS: dict[str, ModuleType] = {module.NAME: module for module in (sft, dpo, kto)}


def kind_of(config) -> ModuleType:
    """The kind of trainer a run uses: its objective (RunConfig.objective: the objective setting, or the one its
    data's format trains)."""
    return KINDS[config.objective]
