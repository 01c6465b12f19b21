"""Training Console: everything that is not drawing (config, presets, runs, trainer, metrics, diagnosis, CLI).

Never imports textual; the UI-facing modules here never import torch, transformers, peft or bitsandbytes either
(only console.trainer.train, console.data.preflight, console.data.demo and the trainer side do, inside the training
process).
"""
__version__ = "0.1.0"
