"""Direct Preference Optimization: TRL's DPOTrainer as the console runs it (trainer process only: imports trl).

Its data is the prepared preference records ({"prompt", "chosen", "rejected"}: console/data/formats/
preference_base.py); TRL tokenises them, adds the end token and computes the rewards, margins and accuracies it logs
(rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies, logps/chosen, logps/rejected), which reach
metrics.jsonl through the console's callback like every other log value.
"""
from __future__ import annotations

from trl import DPOConfig, DPOTrainer

from console.data.prepare import prepare as prepare_records
from console.trainer.kinds.preference import config_arguments, reference_model, say_reference

NAME = "dpo"
prepare = prepare_records


def arguments(training_arguments: dict) -> DPOConfig:
    return config_arguments(DPOConfig, training_arguments)


def build(config, report, *, model, args, train_dataset, eval_dataset, tokenizer, callbacks) -> DPOTrainer:
    trainer = DPOTrainer(model=model, ref_model=reference_model(config.method, model), args=args,
                         train_dataset=train_dataset, eval_dataset=eval_dataset, processing_class=tokenizer,
                         callbacks=callbacks)
    say_reference(report, config.method, "DPO")
    loss = args.loss_type if isinstance(args.loss_type, str) else "+".join(args.loss_type)
    report.say(f"[console] DPO: beta {args.beta:g}, loss {loss}, {len(trainer.train_dataset)} pairs")
    return trainer
