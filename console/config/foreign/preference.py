"""Other tools' preference training, as the console trains it: LLaMA-Factory's `stage: dpo|kto` with its pref_*
and kto_* keys and ranking datasets, axolotl's `rl: dpo|ipo|kto` with its rl_* / dpo_* / kto_* keys and DPO dataset
types. What TRL keeps in trl.experimental (ORPO, SimPO through CPO) and online RL (PPO, GRPO) or reward models are
refused in one line, never dropped: dropping them would train another method.
"""
from __future__ import annotations

from console.config.foreign.mapping import Mapper, show

UNSUPPORTED = ("ORPO and SimPO are in TRL's experimental trainers, which the console does not run; PPO, GRPO and "
               "reward models are not preference training on a fixed dataset")

# LLaMA-Factory's pref_loss -> TRL's DPO loss_type (src/llamafactory/hparams/finetuning_args.py: pref_loss)
_LF_LOSSES = {"sigmoid": "sigmoid", "hinge": "hinge", "ipo": "ipo"}
# LLaMA-Factory's keys -> ours (finetuning_args.py: pref_beta, kto_chosen_weight, kto_rejected_weight)
LF_KEYS = {"pref_beta": "beta", "kto_chosen_weight": "desirable_weight", "kto_rejected_weight": "undesirable_weight"}
# axolotl's keys -> ours (its config schema: rl_beta, dpo_label_smoothing, dpo_use_weighting, kto_*_weight)
AXOLOTL_KEYS = {"rl_beta": "beta", "dpo_beta": "beta", "dpo_label_smoothing": "label_smoothing",
                "dpo_use_weighting": "use_weighting", "kto_desirable_weight": "desirable_weight",
                "kto_undesirable_weight": "undesirable_weight"}
# axolotl's DPO dataset types -> the column mapping onto our preference format (prompt, chosen, rejected)
AXOLOTL_TYPES = {
    "chatml.intel": "prompt:question", "llama3.intel": "prompt:question",
    "chatml.ultra": "", "llama3.ultra": "", "chatml.prompt_pairs": "", "llama3.prompt_pairs": "",
    "chatml.argilla": "prompt:instruction,chosen:chosen_response,rejected:rejected_response",
    "llama3.argilla": "prompt:instruction,chosen:chosen_response,rejected:rejected_response",
}


def _keys(m: Mapper, table: dict[str, str]) -> None:
    for theirs, ours in table.items():
        if theirs in m.data and m.data[theirs] is not None and theirs not in m.done:
            m.put(theirs, m.data[theirs], ours, m.data[theirs])


def llamafactory_stage(m: Mapper, stage: str) -> bool:
    """A preference stage mapped (True), refused in one line, or not a preference stage (False)."""
    d = m.data
    if stage in ("dpo", "kto"):
        m.put("stage", d["stage"], "objective", stage)
        _keys(m, LF_KEYS)
        loss = str(d.get("pref_loss", "sigmoid")).strip().lower()
        if stage == "dpo" and "pref_loss" in d:
            if loss in _LF_LOSSES:
                m.put("pref_loss", d["pref_loss"], "loss_type", _LF_LOSSES[loss])
            else:
                m.refuse("pref_loss", f"pref_loss: {show(d['pref_loss'])}: not supported: the console trains DPO with "
                                      f"{', '.join(_LF_LOSSES)} ({UNSUPPORTED})")
        ftx = d.get("pref_ftx")
        if isinstance(ftx, (int, float)) and not isinstance(ftx, bool) and ftx > 0 and stage == "dpo":
            m.put("pref_ftx", ftx, "loss_type", f"{_LF_LOSSES.get(loss, 'sigmoid')},sft",
                  "DPO plus a supervised loss on the chosen answers, weighted by pref_ftx")
            m.put("pref_ftx", ftx, "loss_weights", [1.0, float(ftx)])
        elif "pref_ftx" in d:
            m.drop("pref_ftx", "0: no supervised term")
        return True
    if stage in ("rm", "ppo", "orpo", "simpo", "grpo"):
        m.refuse("stage", f"stage: {show(d['stage'])}: not supported: the console trains sft, pt, dpo and kto "
                          f"({UNSUPPORTED})")
        return True
    return False


def axolotl_rl(m: Mapper) -> None:
    d = m.data
    rl = str(d.get("rl") or "").strip().lower()
    if rl in ("", "false", "none"):
        return
    if rl in ("dpo", "ipo"):
        m.put("rl", d["rl"], "objective", "dpo")
        if rl == "ipo":
            m.put("rl", d["rl"], "loss_type", "ipo", "axolotl's ipo is DPO with the IPO loss")
    elif rl == "kto":
        m.put("rl", d["rl"], "objective", "kto")
    else:
        m.refuse("rl", f"rl: {show(d['rl'])}: not supported: the console trains dpo, ipo and kto ({UNSUPPORTED})")
        return
    _keys(m, AXOLOTL_KEYS)


def axolotl_dataset_type(m: Mapper, kind, i: int = 0) -> bool:
    """An axolotl DPO dataset type as our preference format and its columns (True), or False when `kind` is not one
    of them. Only when the file trains preferences (rl)."""
    if not m.out.values.get("objective") or not isinstance(kind, str) or kind not in AXOLOTL_TYPES:
        return False
    m.put(f"datasets[{i}].type", kind, "dataset_format", "preference")
    if AXOLOTL_TYPES[kind]:
        m.put(f"datasets[{i}].type", kind, "columns", AXOLOTL_TYPES[kind], "the type's columns")
    return True


def llamafactory_ranking(m: Mapper, name: str, entry: dict, columns: dict) -> None:
    """A LLaMA-Factory ranking dataset (dataset_info.json's ranking: true): alpaca pairs (prompt, query, chosen,
    rejected) or ShareGPT pairs (messages + chosen + rejected)."""
    formatting = str(entry.get("formatting", "alpaca")).lower()
    if formatting == "sharegpt":
        m.put(f"{name}.formatting", formatting, "dataset_format", "sharegpt_preference")
        pairs = [f"conversations:{columns['messages']}"] if columns.get("messages", "conversations") != \
            "conversations" else []
    else:
        m.put(f"{name}.formatting", formatting, "dataset_format", "alpaca_preference")
        ours = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected",
                "system": "system"}
        pairs = [f"{ours[k]}:{v}" for k, v in columns.items() if k in ours and v and v != ours[k]]
    for key in ("chosen", "rejected"):
        if formatting == "sharegpt" and columns.get(key, key) != key:
            pairs.append(f"{key}:{columns[key]}")
    if pairs:
        m.put(f"{name}.columns", columns, "columns", ",".join(pairs))
