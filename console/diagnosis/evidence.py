"""How much a rule must have seen before it may speak: the one gate the rule engine applies to every detector.

A healthy run's first points are noise, warm-up and a learning rate still climbing; a smoke test of four steps is
over before any shape can be told from another. Rules judged on that cried wolf on nearly every short demo run
("slow" at 20 %, "stuck since step 1" on a 35-step run whose eval fell steadily). So each rule declares the
Evidence it needs (console/diagnosis/rules/__init__.py: `Rule(..., evidence=...)`), and rules.run() skips a detector
until its call's context has seen that much. A rule that declares nothing gets DEFAULT, so a rule added later is
quiet on too little evidence too; severe events (NaN, a loss up by orders of magnitude, a crash) and facts of the
config declare AT_ONCE.

What is counted (Seen, built by each context): the train and eval points logged after warm-up ended, the steps
trained, the share of the planned run seen (a run that ended has seen all of it; unknown when the run's length is
not known, then not required), and the eval points where the run evaluates (a run without an eval is not asked for
them).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Seen:
    """What one call of the diagnosis has seen of the run."""

    points: int  # train and eval points logged after warm-up
    steps: float  # optimizer steps trained (for the sample answers: at the latest sampling)
    share: float | None  # share of the planned run seen (1.0 once it ended); None when its length is unknown
    evals: int  # eval points
    evaluates: bool  # the run evaluates at all (an eval is planned or was logged)


@dataclass(frozen=True)
class Evidence:
    """The least a rule needs to have seen before it may fire."""

    points: int = 0  # train and eval points after warm-up
    steps: int = 0  # optimizer steps trained
    share: float = 0.0  # share of the planned run (not required when the run's length is unknown)
    evals: int = 0  # eval points, where the run evaluates

    def met(self, seen: Seen | None) -> bool:
        """Whether `seen` is enough; a context that counts nothing (a crash: the event is the evidence) always is."""
        if seen is None:
            return True
        if seen.points < self.points or seen.steps < self.steps:
            return False
        if seen.share is not None and seen.share < self.share:
            return False
        return not (seen.evaluates and seen.evals < self.evals)

    def words(self) -> str:
        """'8 train points after warm-up, 25% of the run, 3 evals where there is an eval' ('at once' for none)."""
        parts = ([f"{self.points} points after warm-up"] if self.points else []) + (
            [f"{self.steps} steps trained"] if self.steps else []) + (
            [f"{100 * self.share:g}% of the run"] if self.share else []) + (
            [f"{self.evals} evals where there is an eval"] if self.evals else [])
        return ", ".join(parts) or "at once"


AT_ONCE = Evidence()  # severe events (NaN, divergence by orders of magnitude, a crash) and facts of the config
# A curve's shape: a quarter of the run (warm-up over, the schedule's first part seen) with 4 points after warm-up
# and 3 evals (each a pass over the whole validation set): the healthy-runs bench (bench/healthy_runs.py) and the
# labelled real curves (bench/diagnosis.py) set these figures.
DEFAULT = Evidence(points=4, share=0.25, evals=3)
# A change between evals (an eval that rises from its best, an excursion): its own margins are the evidence, the
# share of the run is not asked (a run stopped at a tenth of its plan can have overfitted clearly).
CHANGE = Evidence(points=4, evals=3)
# The training curves alone, for a rule that reads the held-out ones only when there are enough of them (the
# preference not learned): a run that evaluates at its start and end only is judged on its training pairs.
TRAINING = Evidence(points=4, share=0.25)
# The sample answers: a sampling after 20 steps and 20 % of the run (a model trained a few steps answers as its base).
ANSWERS = Evidence(steps=20, share=0.2)
