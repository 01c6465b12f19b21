"""Preference runs' logs as TRL's DPOTrainer writes them (metrics.jsonl records), shaped to show one behaviour:
healthy, likelihood displacement, not learning, overfitting the pairs. Deterministic (no randomness): each shape is
the plain curve the finding describes plus a fixed wobble."""
from __future__ import annotations

import math


def preference_records(steps: int = 60, *, shape: str = "healthy", eval_every: int = 10, log_every: int = 2,
                       lr: float = 5e-6, warmup: int = 6) -> list[dict]:
    """Training logs every `log_every` steps and evaluations every `eval_every` (step 0 included)."""
    out: list[dict] = [{"step": 0, "max_steps": steps, "event": "train_begin", "effective_batch": 16, "epoch": 0.0}]

    def figures(t: float, wobble: float) -> dict:
        # t: the share of the run done; returns chosen/rejected log-probs and rewards (beta 0.1)
        if shape == "displacement":
            chosen, rejected = -60 - 30 * t, -62 - 60 * t  # both fall, the rejected faster: the margin grows
        elif shape == "not_learning":
            chosen, rejected = -60 + wobble, -62 - wobble  # no separation from the start
        else:  # healthy and overfitting (train side): the chosen rises a little, the rejected falls
            chosen, rejected = -60 + 3 * t, -62 - 12 * t
        reward_c, reward_r = 0.1 * (chosen + 60), 0.1 * (rejected + 62)
        margin = reward_c - reward_r
        accuracy = 0.5 + wobble if shape == "not_learning" else min(0.99, 0.5 + 0.6 * t + wobble)
        if shape == "overfitting":
            accuracy = min(1.0, 0.6 + t)
            margin *= 3
        loss = math.log1p(math.exp(-margin))
        return {"loss": loss, "rewards/chosen": reward_c, "rewards/rejected": reward_r, "rewards/margins": margin,
                "rewards/accuracies": accuracy, "logps/chosen": chosen, "logps/rejected": rejected}

    for step in range(0, steps + 1):
        t = step / steps
        wobble = 0.02 * math.sin(step * 1.7)
        rate = lr * min(1.0, step / warmup) if step < warmup else lr * 0.5 * (1 + math.cos(math.pi * (step - warmup)
                                                                                     / (steps - warmup)))
        if step and step % log_every == 0:
            out.append({"step": step, "epoch": t, "learning_rate": rate, "grad_norm": 1.0 + wobble,
                        **figures(t, wobble)})
        if step % eval_every == 0:
            ev = figures(t, -wobble)
            if shape == "overfitting":  # the held-out pairs peak at 40 % of the run, then fall
                peak = 0.4
                ev["rewards/accuracies"] = 0.5 + 0.5 * t if t <= peak else 0.7 - 0.8 * (t - peak)
                ev["rewards/margins"] = t if t <= peak else peak - 1.5 * (t - peak)
            out.append({"step": step, "epoch": t, **{f"eval_{k}": v for k, v in ev.items()}})
    return out
