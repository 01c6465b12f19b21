"""Kinds of trainer: one module per training objective, each holding what is its own (today supervised
fine-tuning; preference training comes next), listed once in KINDS. console/trainer/train.py runs whichever the run
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

from console.trainer.kinds import sft

KINDS: dict[str, ModuleType] = {module.NAME: module for module in (sft,)}


def kind_of(config) -> ModuleType:
    """The kind of trainer a run uses. One kind today: every run is supervised fine-tuning; a config key chooses
    once a second kind exists."""
    return KINDS[sft.NAME]
