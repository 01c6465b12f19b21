"""Datasets in the trainer (imports `datasets`): the rows read and turned into TRL's records, which SFTTrainer
tokenises; the evaluation split held out."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from console.common.errors import DataError
from console.data.formats import (
    RECORD_KEYS,
    Conversation,
    PreferenceFormat,
    detect_format,
    first_problem,
    get_format,
    parse_columns,
)
from console.data.preflight import LOADERS, _local_files, _looks_like_hub_name


def load_raw(dataset: str | None, config_name: str | None = None, split: str | None = None):
    """A DatasetDict from a local file/folder or the Hub (with its configuration/subset and training split)."""
    import datasets

    if not dataset:
        from console.data.demo import demo_dataset_path

        dataset = str(demo_dataset_path())
    path = Path(dataset).expanduser()
    if path.exists():
        files = _local_files(path)
        kinds = {LOADERS[f.suffix.lower()] for f in files}
        if len(kinds) > 1:
            raise DataError(f"{path} mixes file types ({', '.join(sorted(kinds))}): keep one kind per dataset")
        split_files: dict[str, list[str]] = {}
        for f in files:
            stem = f.stem.lower()
            name = ("validation" if stem in ("validation", "valid", "val", "eval", "dev")
                    else "test" if stem == "test" else "train")
            split_files.setdefault(name, []).append(str(f))
        return datasets.load_dataset(kinds.pop(), data_files=split_files)
    if not _looks_like_hub_name(dataset):
        raise DataError(f"dataset {dataset} not found: give a local .jsonl/.json/.csv/.parquet/.txt file or folder, "
                        f"or a Hub dataset name (org/name)")
    try:
        loaded = datasets.load_dataset(dataset, config_name)
    except Exception as err:  # not found, private, or no network: one clear line, the traceback in train.log
        raise DataError(f"cannot load the Hub dataset {dataset}: {type(err).__name__}: "
                        f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}") from err
    if split:
        if split not in loaded:
            raise DataError(f"the Hub dataset {dataset} has no split {split!r}; its splits: {', '.join(loaded)}")
        loaded = datasets.DatasetDict({"train": loaded[split], **{k: v for k, v in loaded.items() if k in (
            "validation", "eval", "test") and k != split}})
    return loaded


def _rename(split, mapping: dict[str, str]):
    """The user's column mapping applied: each named column takes the name its format reads."""
    renames = {column: name for name, column in mapping.items() if column in split.column_names and column != name}
    clashes = [name for name in renames.values() if name in split.column_names]
    if clashes:  # the format's own column already exists: the mapped one replaces it
        split = split.remove_columns(clashes)
    return split.rename_columns(renames) if renames else split


def prepare(values: dict, tokenizer, need_eval: bool, seed: int = 42):
    """(train, eval or None, PreparedData): the splits as TRL records, ready for SFTTrainer to tokenise."""

    raw = load_raw(values.get("dataset"), values.get("dataset_config"), values.get("dataset_split"))
    train_split = raw["train"] if "train" in raw else raw[next(iter(raw))]
    eval_split = next((raw[s] for s in ("validation", "eval", "test") if s in raw and s != "train"), None)
    if len(train_split) == 0:
        raise DataError(f"dataset {values.get('dataset') or 'demo'} is empty: it holds no rows")
    mapping = parse_columns(values.get("columns"))
    train_split = _rename(train_split, mapping)
    eval_split = _rename(eval_split, mapping) if eval_split is not None else None
    text_column = values.get("text_column")
    fmt = get_format(detect_format(list(train_split.column_names), values.get("dataset_format", "auto"), text_column))
    if isinstance(fmt, PreferenceFormat):  # an empty answer or a pair of two equal answers: one line, before training
        for name, split in (("train", train_split), ("eval", eval_split)):
            if split is not None:
                first_problem(fmt, (row for batch in split.iter(batch_size=1000)
                                    for row in (dict(zip(batch, vals)) for vals in zip(*batch.values()))),
                              f"dataset {values.get('dataset') or 'demo'} ({name} split)")
    if need_eval and eval_split is None:
        val_size = values.get("val_size") or 0.1
        if len(train_split) < 4:
            raise DataError(f"only {len(train_split)} rows: too few to hold out an evaluation split; add data or "
                            f"set eval_strategy=no")
        parts = train_split.train_test_split(test_size=val_size, seed=seed)
        train_split, eval_split = parts["train"], parts["test"]
    max_samples = values.get("max_samples")
    if max_samples:
        train_split = train_split.select(range(min(max_samples, len(train_split))))
    template = bool(getattr(tokenizer, "chat_template", None)) and values.get("use_chat_template", True) is not False
    if values.get("chat_template"):
        check_template_renders(tokenizer)
    train_on_prompt = bool(values.get("train_on_prompt"))
    options = dict(chat_template=template, train_on_prompt=train_on_prompt, text_column=text_column)

    keys = RECORD_KEYS[fmt.record_kind(template, train_on_prompt)]

    def convert(batch):
        rows = [dict(zip(batch, vals)) for vals in zip(*batch.values())]
        records = [rec for row in rows for rec in fmt.render(row, **options)]
        return {k: [r[k] for r in records] for k in keys}  # empty lists, not {}, for a batch with no example

    def build(split):
        out = split.map(convert, batched=True, remove_columns=split.column_names)
        if keys == ["text"]:
            out = out.filter(lambda r: bool(r["text"].strip()))
        return out

    train = build(train_split)
    if len(train) == 0:
        raise DataError(f"no training example left after formatting the {fmt.name} rows: check the columns "
                        f"({', '.join(train_split.column_names)}); a chat needs at least one assistant turn")
    evaluation = build(eval_split) if (need_eval and eval_split is not None) else None
    if evaluation is not None and len(evaluation) == 0:
        evaluation = None
    skipped = 0
    if isinstance(fmt, Conversation):  # rows whose conversation has no answer to a question give no example
        skipped = sum(1 for turns in train_split[fmt.column] if not fmt.render({fmt.column: turns}, **options))
    info = PreparedData(fmt=fmt.name, rows=len(train_split), examples=len(train), skipped=skipped,
                        eval_examples=len(evaluation) if evaluation is not None else 0,
                        chat_template=template, loss_on=fmt.loss_on(train_on_prompt))
    return train, evaluation, info


def check_template_renders(tokenizer) -> None:
    """The run's own chat_template rendered once on a two-turn conversation: a Jinja mistake is one line here,
    not a traceback from deep inside TRL's tokenisation."""
    conversation = [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Hello."}]
    try:
        tokenizer.apply_chat_template(conversation, tokenize=False)
    except Exception as err:  # noqa: BLE001  jinja2's TemplateSyntaxError/UndefinedError, transformers' own
        where = f" (line {err.lineno})" if getattr(err, "lineno", None) else ""
        text = str(err).strip().splitlines()
        raise DataError(f"chat_template does not render{where}: {type(err).__name__}: "
                        f"{text[0][:200] if text else ''}; fix the template") from None


@dataclass
class PreparedData:
    """What prepare() made of the dataset, for the trainer's log and status."""

    fmt: str  # the format registry's name (console/data/formats), also written to status.json as data_format
    rows: int
    examples: int  # training records (a multi-turn chat gives one per answer)
    eval_examples: int
    skipped: int  # training rows that gave no example (a conversation without an answer to a question)
    chat_template: bool
    loss_on: str

    @property
    def templated(self) -> bool:
        """The prompts went through the model's chat template (never for plain text)."""
        return self.chat_template and get_format(self.fmt).templated

    def describe(self) -> str:
        per = f" ({self.examples} examples)" if self.examples != self.rows else ""
        layout = ", through the chat template" if self.templated else ""
        skipped = f"; {self.skipped} rows without an answer to a question skipped" if self.skipped else ""
        return (f"{self.rows} train{per} / {self.eval_examples} eval rows, {self.fmt} format{layout}; "
                f"loss on {self.loss_on}{skipped}")
