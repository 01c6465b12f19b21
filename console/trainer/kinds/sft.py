"""Supervised fine-tuning, the console's first kind of trainer: TRL's SFTTrainer as the console runs it (trainer
process only: imports trl, transformers, datasets).

TRL tokenises every format, keeps the end token in the labels whatever the pad token is (its collator pads labels by
length, never by token id), masks prompts, packs and runs padding-free batches. The console adds one thing TRL
does not say: how many examples max_length cuts. TRL truncates inside its dataset preparation, after which the
original lengths are gone, so `_prepare_dataset` runs TRL's preparation twice: first without the cut (tokens and
labels, which are cached by `datasets`), to count, then on that tokenised result with the cut and the packing,
which TRL applies to an already tokenised dataset as it would to raw rows.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pyarrow.compute as pc
from trl import SFTConfig, SFTTrainer

from console.data.prepare import prepare as prepare_records


@dataclass
class CutReport:
    """What max_length did to one split: rows longer than it (cut), and rows left with no answer token (dropped)."""

    split: str
    examples: int
    cut: int
    dropped: int
    max_length: int | None
    longest: int
    tokens: int  # tokens in the split before the cut
    label_tokens: int  # of which carry the loss
    left_out: bool = False  # drop_long_examples: the long examples are left out, not cut

    def text(self) -> str:
        if not self.cut:
            return ""
        pc = 100 * self.cut / max(self.examples, 1)
        # one example of 200 read '(0 %)': below one per cent the share keeps a digit, never rounds to nothing
        share = f"{pc:.1f}" if pc < 1 else f"{pc:.0f}"
        if self.left_out:
            return (f"{self.cut} of {self.examples} {self.split} examples ({share} %) are longer than "
                    f"{self.max_length} tokens (longest {self.longest}) and are left out (drop_long_examples): "
                    f"raise max_length to train on them")
        dropped = (f"; {self.dropped} of them keep no answer token and are left out" if self.dropped else "")
        return (f"{self.cut} of {self.examples} {self.split} examples ({share} %) are longer than "
                f"{self.max_length} tokens (longest {self.longest}) and are cut{dropped}: raise max_length")

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Reports:
    by_split: dict = field(default_factory=dict)


class ConsoleSFTTrainer(SFTTrainer):
    """SFTTrainer that measures each split against max_length before cutting it (see the module's docstring)."""

    def __init__(self, *args, loraplus: dict | None = None, drop_long: bool = False, **kwargs):
        self._cut_reports = _Reports()
        self._drop_long = drop_long  # drop_long_examples: axolotl's way with over-long rows (left out, not cut)
        # LoRA+ (console.trainer.model.loraplus_options): the adapter's B matrices at lr * ratio
        self._loraplus = loraplus
        super().__init__(*args, **kwargs)

    def create_optimizer(self, model=None):
        """The run's optimizer; with LoRA+ (loraplus_lr_ratio), peft's create_loraplus_optimizer with the optim
        class and arguments the run names (optim, learning_rate, weight_decay, betas), B matrices at lr * ratio."""
        opt_model = self.model if model is None else model
        options = self._loraplus
        if self.optimizer is not None or not options:
            return super().create_optimizer(model)
        from peft.optimizers import create_loraplus_optimizer
        from transformers.trainer_optimizer import is_optimizer_factory

        from console.common.errors import UserError

        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        if is_optimizer_factory(optimizer_cls) or {"params", "model", "optimizer_dict"} & set(kwargs):
            # GaLore, LOMO, layer-wise and factory optimizers lay out their own parameter groups
            raise UserError(f"loraplus_lr_ratio needs a plain optimizer (adamw_torch, adamw_8bit, sgd, ...); "
                            f"optim {self.args.optim} builds its own parameter groups: choose one or the other")
        kwargs = dict(kwargs)
        lr = kwargs.pop("lr", self.args.learning_rate)
        self.optimizer = create_loraplus_optimizer(opt_model, optimizer_cls, lr=lr,
                                                   loraplus_weight_decay=self.args.weight_decay, **options, **kwargs)
        return self.optimizer

    @property
    def cut_reports(self) -> dict[str, CutReport]:
        return self._cut_reports.by_split

    def _prepare_dataset(self, dataset, processing_class, args, packing, formatting_func, dataset_name):
        limit = args.max_length
        # Labels made: the second pass below (or a dataset prepared elsewhere). Tokens without labels (conversations
        # trained whole, console/data/whole.py) are measured like raw records.
        if limit is None or "labels" in dataset.column_names:
            return super()._prepare_dataset(dataset, processing_class, args, packing, formatting_func, dataset_name)
        uncut_args = copy.copy(args)
        uncut_args.max_length, uncut_args.shuffle_dataset = None, False
        tokenised = super()._prepare_dataset(dataset, processing_class, uncut_args, False, formatting_func,
                                             dataset_name)
        # Counted in Arrow, not in Python lists: a real dataset holds millions of tokens.
        labels = tokenised.data.column("labels")
        lengths = pc.list_value_length(labels).to_numpy(zero_copy_only=False)
        # Packing that splits long examples (bfd_split, wrapped) loses no token: only a truncating one cuts.
        cuts = not packing or args.packing_strategy == "bfd"
        over = [int(i) for i in (lengths > limit).nonzero()[0]] if cuts else []
        kept = slice(None, limit) if args.truncation_mode != "keep_end" else slice(-limit, None)
        drop = bool(self._drop_long and over)
        dropped = len(over) if drop else 0 if packing else sum(1 for row in tokenised.select(over)["labels"]
                                                               if all(t == -100 for t in row[kept]))
        label_tokens = pc.sum(pc.not_equal(pc.list_flatten(labels), -100)).as_py() or 0
        self._cut_reports.by_split[dataset_name] = CutReport(
            split=dataset_name, examples=len(lengths), cut=len(over), dropped=dropped, max_length=limit,
            longest=int(lengths.max()) if len(lengths) else 0, tokens=int(lengths.sum()), label_tokens=label_tokens,
            left_out=drop)
        if drop:
            kept_rows = (lengths <= limit).nonzero()[0]
            tokenised = tokenised.select([int(i) for i in kept_rows])
        return super()._prepare_dataset(tokenised, processing_class, args, packing, formatting_func, dataset_name)


def sft_config(arguments: dict) -> SFTConfig:
    """SFTConfig from the console's arguments (already TrainingArguments/SFTConfig names)."""
    return SFTConfig(**arguments)


# -- the kind's interface (console/trainer/kinds/__init__.py) -------------------------------------------------------

NAME = "sft"
prepare = prepare_records  # the dataset's rows as TRL's records (console/data/prepare.py)
arguments = sft_config


def build(config, report, *, model, args, train_dataset, eval_dataset, tokenizer, callbacks) -> ConsoleSFTTrainer:
    """The SFTTrainer of a run, its datasets measured against max_length; says the LoRA+ ratio and what max_length
    cut in train.log, `train` output and status.json; DataError when no example keeps an answer token."""
    from console.common.errors import DataError
    from console.trainer.model import loraplus_options

    values = config.values
    trainer = ConsoleSFTTrainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                                processing_class=tokenizer, callbacks=callbacks,
                                loraplus=loraplus_options(config.method, values),
                                drop_long=bool(values.get("drop_long_examples")))
    if trainer._loraplus:
        report.say(f"[console] LoRA+: the adapter's B matrices learn at {trainer._loraplus['loraplus_lr_ratio']:g} x "
                   f"the learning rate")
    if len(trainer.train_dataset) == 0:  # every example lost its answer to the cut
        longest = trainer.cut_reports["train"].longest if "train" in trainer.cut_reports else "?"
        if trainer._drop_long:
            raise DataError(f"every training example is longer than max_length {values.get('max_length')} and "
                            f"drop_long_examples leaves it out: raise max_length (the longest example has {longest} "
                            f"tokens) or set drop_long_examples=false to cut them instead")
        raise DataError(f"no training example keeps an answer token within max_length {values.get('max_length')}: "
                        f"raise max_length (the longest example has {longest} tokens)")
    cut = {name: cut_report.as_dict() for name, cut_report in trainer.cut_reports.items()}
    cut_text = "; ".join(r.text() for r in trainer.cut_reports.values() if r.text())
    for cut_report in trainer.cut_reports.values():
        report.say(f"[console] {cut_report.split}: {cut_report.examples} examples, {cut_report.tokens} tokens, "
                   f"{cut_report.label_tokens} with loss, longest {cut_report.longest} (max_length "
                   f"{cut_report.max_length})")
    if cut_text:
        report.say(f"[console] warning: {cut_text}")
    # What max_length cut, per split: said in train output, `watch` and the training screen.
    report.status("preparing data", cut=cut, cut_text=cut_text)
    return trainer
