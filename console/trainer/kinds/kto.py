"""Kahneman-Tversky Optimization: TRL's KTOTrainer as the console runs it (trainer process only: imports trl).

Its data is the prepared unpaired records ({"prompt", "completion", "label"}); preference pairs train it too (TRL
splits each pair into a desirable and an undesirable row). It logs rewards/chosen, rewards/rejected, rewards/margins,
logps/* and kl, which reach metrics.jsonl through the console's callback.
"""
from __future__ import annotations

from trl import KTOConfig, KTOTrainer

from console.data.prepare import prepare as prepare_records
from console.trainer.kinds.preference import config_arguments, reference_model, say_reference

NAME = "kto"
prepare = prepare_records


def arguments(training_arguments: dict) -> KTOConfig:
    return config_arguments(KTOConfig, training_arguments)


def build(config, report, *, model, args, train_dataset, eval_dataset, tokenizer, callbacks) -> KTOTrainer:
    from console.common.errors import UserError

    if args.per_device_train_batch_size < 2 and args.loss_type == "kto":
        # TRL estimates KTO's reference point (the KL term) from the other answers of the same batch
        raise UserError("KTO needs per_device_train_batch_size of 2 or more (its KL term compares the answers of "
                        "one batch): raise it, lowering gradient_accumulation_steps to keep the effective batch")
    trainer = KTOTrainer(model=model, ref_model=reference_model(config.method, model), args=args,
                         train_dataset=train_dataset, eval_dataset=eval_dataset, processing_class=tokenizer,
                         callbacks=callbacks)
    say_reference(report, config.method, "KTO")
    labels = trainer.train_dataset["label"] if "label" in trainer.train_dataset.column_names else []
    good = sum(1 for label in labels if label)
    report.say(f"[console] KTO: beta {args.beta:g}, {good} desirable and {len(labels) - good} undesirable answers "
               f"(desirable_weight {args.desirable_weight:g}, undesirable_weight {args.undesirable_weight:g})")
    return trainer
