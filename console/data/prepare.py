"""Datasets in the trainer (imports `datasets`): the rows read and turned into TRL's records, which SFTTrainer
tokenises; the evaluation split held out."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
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
from console.data.sources import DatasetEntry, entries_of, split_names
from console.data.templates import check_roles


def load_raw(dataset: str | None, config_name: str | None = None, split: str | None = None):
    """A DatasetDict from a local file/folder or the Hub (with its configuration/subset): 'train' is the training
    split, `split` when given, in datasets' slice syntax (train[:10%], train[100:200]), sliced by `datasets`
    itself; the other splits (validation, test) beside it."""
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
        if split:
            missing = [n for n in split_names(split) if n not in split_files]
            if missing:
                raise DataError(f"dataset {path.name} has no split {missing[0]!r}: its splits are "
                                f"{', '.join(split_files)} (a file named validation/val/eval/dev or test is that "
                                f"split, any other is train)")
        kind = kinds.pop()
        loaded = datasets.load_dataset(kind, data_files=split_files)
        return _with_split(loaded, split, lambda: datasets.load_dataset(kind, data_files=split_files, split=split),
                           path.name)
    if not _looks_like_hub_name(dataset):
        raise DataError(f"dataset {dataset} not found: give a local .jsonl/.json/.csv/.parquet/.txt file or folder, "
                        f"or a Hub dataset name (org/name)")
    try:
        loaded = datasets.load_dataset(dataset, config_name)
    except Exception as err:  # not found, private, or no network: one clear line, the traceback in train.log
        raise DataError(f"cannot load the Hub dataset {dataset}: {type(err).__name__}: "
                        f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}") from err
    if split:
        missing = [n for n in split_names(split) if n not in loaded]
        if missing:
            raise DataError(f"the Hub dataset {dataset} has no split {missing[0]!r}; its splits: {', '.join(loaded)}")
    return _with_split(loaded, split, lambda: datasets.load_dataset(dataset, config_name, split=split), dataset)


def _with_split(loaded, split: str | None, load_split, name: str):
    """`loaded` with its 'train' replaced by `split` as `datasets` slices it (load_split()); the splits it reads
    are left out of the evaluation candidates."""
    import datasets

    if not split:
        return loaded
    try:
        train = load_split()
    except (ValueError, KeyError) as err:  # datasets' own word on a slice it cannot take ("Bad split", out of range)
        text = str(err).strip().splitlines()
        raise DataError(f"dataset {name}: split {split!r} cannot be read: {text[0][:200] if text else err!r}; "
                        f"write e.g. train, train[:10%] or train[100:200]") from None
    used = set(split_names(split))
    return datasets.DatasetDict({"train": train, **{k: v for k, v in loaded.items() if k in (
        "validation", "eval", "test") and k not in used}})


def _rename(split, mapping: dict[str, str]):
    """The user's column mapping applied: each named column takes the name its format reads."""
    renames = {column: name for name, column in mapping.items() if column in split.column_names and column != name}
    clashes = [name for name in renames.values() if name in split.column_names]
    if clashes:  # the format's own column already exists: the mapped one replaces it
        split = split.remove_columns(clashes)
    return split.rename_columns(renames) if renames else split


@dataclass
class SourceData:
    """One dataset of the run as prepared: its records and what became of its rows."""

    label: str
    fmt: str
    rows: int  # training rows read (after its split and sample)
    examples: int  # training records they gave
    eval_examples: int
    skipped: int
    kind: str  # the record shape ('text', 'prompt_completion', 'messages')

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def prepare(values: dict, tokenizer, need_eval: bool, seed: int = 42):
    """(train, eval or None, PreparedData): the splits as TRL records, ready for SFTTrainer to tokenise. Several
    datasets (console/data/sources.py) are each read in their own format, then mixed and shuffled. Through a chat
    template with the loss on the answers, a dataset of conversations is trained whole (console/data/whole.py):
    its records, and those of the datasets mixed with it, come tokenised with their answers marked."""
    entries = entries_of(values)
    template = bool(getattr(tokenizer, "chat_template", None)) and values.get("use_chat_template", True) is not False
    if values.get("chat_template"):
        check_template_renders(tokenizer)
    train_on_prompt = bool(values.get("train_on_prompt"))
    several = len(entries) > 1
    loaded = [_load_source(entry, values, need_eval, seed, several) for entry in entries]
    whole = (template and not train_on_prompt and tokenizer is not None
             and any(isinstance(src.fmt, Conversation) for src in loaded) and all(src.fmt.templated for src in loaded))
    parts = [_build_source(src, need_eval, template, train_on_prompt, whole, tokenizer) for src in loaded]
    kinds = {info.kind for _, _, info in parts}
    if len(kinds) > 1:
        said = ", ".join(f"{info.label}: {info.fmt} ({info.kind.replace('_', '/')})" for _, _, info in parts)
        raise DataError(f"these datasets give different kinds of examples ({said}); one run trains one kind: "
                        f"use formats that give the same kind (plain text apart from the others), or train them in "
                        f"separate runs")
    train = _mix([t for t, _, _ in parts])
    if several:
        train = train.shuffle(seed=seed)  # mixed: a share of each dataset in every stretch of steps
    max_samples = values.get("max_samples")
    if max_samples and several:
        train = train.select(range(min(max_samples, len(train))))
    evaluations = [e for _, e, _ in parts if e is not None and len(e)]
    evaluation = _mix(evaluations) if (need_eval and evaluations) else None
    sources = [info for _, _, info in parts]
    first = sources[0]
    loss_on = get_format(first.fmt).loss_on(train_on_prompt)
    if whole:
        loss_on = "the answers only (every assistant turn, each conversation one example)"
    info = PreparedData(fmt=first.fmt, rows=sum(s.rows for s in sources), examples=len(train),
                        skipped=sum(s.skipped for s in sources),
                        eval_examples=len(evaluation) if evaluation is not None else 0,
                        chat_template=template, loss_on=loss_on,
                        sources=[s.as_dict() for s in sources] if several else [])
    return train, evaluation, info


def _mix(parts: list):
    """One dataset of records from several (the same record shape: TRL's requirement)."""
    import datasets

    if len(parts) == 1:
        return parts[0]
    try:
        return datasets.concatenate_datasets(parts)
    except ValueError:  # the same columns typed differently by Arrow (a null here, a string there): align them
        return datasets.concatenate_datasets([parts[0]] + [p.cast(parts[0].features) for p in parts[1:]])


@dataclass
class _Loaded:
    """One dataset read and split, before it is rendered."""

    entry: DatasetEntry
    name: str
    fmt: object
    train: object
    evaluation: object
    several: bool


def _load_source(entry: DatasetEntry, values: dict, need_eval: bool, seed: int, several: bool) -> _Loaded:
    """One dataset read, its columns renamed, its format found, its evaluation rows held out, its sample drawn."""
    raw = load_raw(entry.path, entry.config, entry.split)
    name = entry.label if several else (entry.path or "demo")
    train_split = raw["train"] if "train" in raw else raw[next(iter(raw))]
    eval_split = next((raw[s] for s in ("validation", "eval", "test") if s in raw and s != "train"), None)
    if len(train_split) == 0:
        raise DataError(f"dataset {name} is empty: it holds no rows" + (
            f" in its split {entry.split}" if entry.split else ""))
    mapping = parse_columns(entry.columns)
    train_split = _rename(train_split, mapping)
    eval_split = _rename(eval_split, mapping) if eval_split is not None else None
    fmt = get_format(detect_format(list(train_split.column_names), entry.format or "auto", entry.text_column))
    if isinstance(fmt, PreferenceFormat):  # an empty answer or a pair of two equal answers: one line, before training
        for part, split in (("train", train_split), ("eval", eval_split)):
            if split is not None:
                first_problem(fmt, (row for batch in split.iter(batch_size=1000)
                                    for row in (dict(zip(batch, vals)) for vals in zip(*batch.values()))),
                              f"dataset {name} ({part} split)")
    if need_eval and eval_split is None:
        val_size = values.get("val_size") or 0.1
        if len(train_split) < 4:
            raise DataError(f"{'dataset ' + name + ': ' if several else ''}only {len(train_split)} rows: too few to "
                            f"hold out an evaluation split; add data or set eval_strategy=no")
        parts = train_split.train_test_split(test_size=val_size, seed=seed)
        train_split, eval_split = parts["train"], parts["test"]
    train_split = _sample(train_split, entry, seed)
    max_samples = values.get("max_samples")
    if max_samples and not several:  # several datasets: the mix is cut (prepare)
        train_split = train_split.select(range(min(max_samples, len(train_split))))
    return _Loaded(entry, name, fmt, train_split, eval_split, several)


# A record tokenised here (console/data/whole.py), with its conversation as JSON text: the samples' prompts and the
# preview read it (TRL and the Trainer leave columns they do not use out of the batches).
TOKENS = ["input_ids", "completion_mask", "conversation"]


def _build_source(src: _Loaded, need_eval: bool, template: bool, train_on_prompt: bool, whole: bool, tokenizer):
    """(train records, eval records or None, SourceData) of one dataset in its own format."""
    fmt, name, train_split, text_column = src.fmt, src.name, src.train, src.entry.text_column
    options = dict(chat_template=template, train_on_prompt=train_on_prompt, text_column=text_column)
    where = name if src.several else None  # several datasets: each error names its dataset
    if template and tokenizer is not None and fmt.templated:
        _check_template(tokenizer, fmt, train_split, options, whole, where)
    kind = "tokens" if whole else fmt.record_kind(template, train_on_prompt)
    keys = TOKENS if whole else RECORD_KEYS[kind]

    def convert(batch):
        rows = [dict(zip(batch, vals)) for vals in zip(*batch.values())]
        if whole:
            from console.data.whole import tools_of, whole_records

            records = [dict(rec, conversation=json.dumps(messages, ensure_ascii=False, default=str))
                       for row in rows if (messages := fmt.whole(row))
                       for rec in whole_records(tokenizer, messages, tools_of(row))]
        else:
            records = [rec for row in rows for rec in fmt.render(row, **options)]
        return {k: [r[k] for r in records] for k in keys}  # empty lists, not {}, for a batch with no example

    bos = _added_bos(tokenizer)

    def unbos(batch):  # text already rendered by a template opens with the BOS the tokenizer adds again
        return {"text": [t[len(bos):] if t.startswith(bos) else t for t in batch["text"]]}

    def build(split):
        out = split.map(convert, batched=True, remove_columns=split.column_names)
        if keys == ["text"]:
            out = out.filter(lambda r: bool(r["text"].strip()))
            if bos:
                out = out.map(unbos, batched=True)
        return out

    train = build(train_split)
    if len(train) == 0:
        raise DataError(f"no training example left after formatting the {fmt.name} rows of {name}: check the columns "
                        f"({', '.join(train_split.column_names)}); a chat needs at least one assistant turn")
    evaluation = build(src.evaluation) if (need_eval and src.evaluation is not None) else None
    if evaluation is not None and len(evaluation) == 0:
        evaluation = None
    skipped = 0
    if isinstance(fmt, Conversation):  # rows whose conversation has no answer to a question give no example
        skipped = sum(1 for turns in train_split[fmt.column] if not fmt.render({fmt.column: turns}, **options))
    info = SourceData(label=name, fmt=fmt.name, rows=len(train_split), examples=len(train),
                      eval_examples=len(evaluation) if evaluation is not None else 0, skipped=skipped, kind=kind)
    return train, evaluation, info


def _added_bos(tokenizer) -> str:
    """The BOS text the tokenizer adds to every text it tokenises ('' when it adds none)."""
    bos = getattr(tokenizer, "bos_token", None)
    if not bos or tokenizer is None:
        return ""
    try:
        ids = tokenizer("x")["input_ids"]
    except Exception:  # noqa: BLE001  a tokenizer that cannot say: leave the text as it is
        return ""
    return bos if ids[:1] == [tokenizer.bos_token_id] else ""


def _check_template(tokenizer, fmt, split, options: dict, whole: bool, name: str | None) -> None:
    """The roles the first rows hold rendered by the tokenizer's template, the system text kept where an answer-only
    mask needs it (console/data/templates.py: what the pre-launch check does for a local model, here for a Hub
    model's tokenizer too), and, for conversations trained whole, what their turns carry (tool calls, reasoning)
    rendered, not dropped (console/data/whole.py)."""
    from console.data.whole import carried_problem, tools_of

    rows = split.select(range(min(500, len(split))))
    roles: set[str] = set()
    carried = None
    for row in rows:
        records = fmt.render(row, **options)
        for rec in records:
            for column in ("prompt", "messages"):
                if isinstance(rec.get(column), list):
                    roles.update(m["role"] for m in rec[column])
        if whole and carried is None:
            messages = fmt.whole(row)
            if tools_of(row) or any(set(m) - {"role", "content"} or m["role"] == "tool" for m in messages):
                carried = (messages, tools_of(row))
    try:
        check_roles(tokenizer.chat_template, roles, bos=tokenizer.bos_token or "", eos=tokenizer.eos_token or "",
                    train_on_prompt=options["train_on_prompt"])
        if carried:
            problem = carried_problem(tokenizer, *carried)
            if problem:
                raise DataError(problem)
    except DataError as err:
        raise DataError(f"dataset {name}: {err}" if name else str(err)) from None


def _sample(split, entry: DatasetEntry, seed: int):
    """The training rows an entry's `rows` or `share` asks for: drawn at random with the run's seed; more than it
    holds repeats its rows (the whole set as often as it fits, then a random draw for the rest)."""
    if entry.rows is None and entry.share is None:
        return split
    want = entry.rows if entry.rows is not None else max(1, round(entry.share * len(split)))
    whole, rest = divmod(want, len(split))
    shuffled = split.shuffle(seed=seed)
    indices = [i for _ in range(whole) for i in range(len(split))] + list(range(rest))
    return shuffled.select(indices)


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
    sources: list[dict] = field(default_factory=list)  # several datasets: each one's SourceData.as_dict()

    @property
    def templated(self) -> bool:
        """The prompts went through the model's chat template (never for plain text)."""
        return self.chat_template and get_format(self.fmt).templated

    def describe(self) -> str:
        if self.sources:
            each = ", ".join(f"{s['label']} ({s['fmt']}, {s['rows']} rows"
                             + (f" -> {s['examples']} examples" if s['examples'] != s['rows'] else "") + ")"
                             for s in self.sources)
            layout = ", through the chat template" if self.templated else ""
            skipped = f"; {self.skipped} rows without an answer to a question skipped" if self.skipped else ""
            return (f"{len(self.sources)} datasets mixed: {each}; {self.examples} train / {self.eval_examples} eval "
                    f"examples{layout}; loss on {self.loss_on}{skipped}")
        per = f" ({self.examples} examples)" if self.examples != self.rows else ""
        layout = ", through the chat template" if self.templated else ""
        skipped = f"; {self.skipped} rows without an answer to a question skipped" if self.skipped else ""
        return (f"{self.rows} train{per} / {self.eval_examples} eval rows, {self.fmt} format{layout}; "
                f"loss on {self.loss_on}{skipped}")
