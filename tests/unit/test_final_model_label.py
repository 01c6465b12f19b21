"""What model/ holds, in words: the best checkpoint when the trainer loaded it at the end (export and chat said
'step 60' of weights from step 20, while the training screen named the best checkpoint)."""
from __future__ import annotations

from console.runs.checkpoints import final_model_label


def test_the_final_model_is_named_the_best_checkpoint_when_it_was_loaded_at_the_end():
    status = {"phase": "done", "step": 60, "best_checkpoint": "/runs/r/checkpoints/checkpoint-20"}
    assert final_model_label(status, best_loaded=True) == \
        "the final model (model/: the best checkpoint, checkpoint-20, of 60 steps)"
    assert final_model_label(status, best_loaded=False) == "the final model (model/, step 60)"
    stopped = dict(status, phase="stopped")  # a stopped run saved the weights it had
    assert final_model_label(stopped, best_loaded=True) == "the final model (model/, step 60)"
    assert final_model_label({"phase": "done"}, best_loaded=True) == "the final model (model/)"
    last = {"phase": "done", "step": 8, "best_checkpoint": "/runs/r/checkpoints/checkpoint-8"}
    assert final_model_label(last, best_loaded=True) == "the final model (model/, step 8)"
