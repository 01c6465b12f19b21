"""F1: the keys of the screen on top, each with what it does, and the loop in three lines (a page of text, not
Textual's stock key panel, whose copy-text and scroll-left entries mean nothing here and which squeezed the screen)."""
from __future__ import annotations

from textual.binding import Binding

LOOP = ("The loop:\n"
        "  1. pick a method (or a demo), edit its arguments, F5 launches;\n"
        "  2. the curves draw live; a problem shows below them with numbered fixes;\n"
        "  3. pick a fix with 1-9, then a (into the next run) or r (restart now with it).")

# What a key does, where the footer's word is too short to say it. Keyed by action name.
MORE = {
    "pick": "pick fix N of the warnings below the charts (the picked one is highlighted)",
    "apply_next": "open the arguments screen with the picked fix applied, to launch as the next run",
    "apply_restart": "stop this run (a checkpoint is saved) and start the next one with the picked fix, after asking",
    "stop": "stop the run, after asking; a checkpoint is saved and it can be resumed",
    "stop_best": "stop the run and keep its best checkpoint (lowest eval loss) as the final model",
    "checkpoint": "save a checkpoint at the next step, training goes on",
    "toggle_charts": "switch between the loss chart and the learning-rate / gradient-norm charts (a preference run: "
                     "then its rewards and the pairs ranked right)",
    "preference_run": "a DPO run that starts from this run's model (its adapter trained further), on preference "
                      "pairs you give on the arguments screen",
    "log": "the end of the trainer's log (train.log)",
    "toggle_log": "log-scale loss axis (small changes late in a run become visible)",
    "toggle_smooth": "smooth the train loss (an EMA over it, the raw curve dimmed behind)",
    "zoom": "zoom: since the best eval, then the last quarter of the steps, then all",
    "edit": "edit this run's arguments and launch them as a new run",
    "new_run": "back to the method screen for a new run",
    "runs": "every run in the runs folder: compare, diff, rerun",
    "back": "back to where you came from",
    "scroll_findings": "scroll the warnings panel (Tab puts the focus on it, the arrows then scroll too)",
    "choose": "go on with the highlighted method, demo or saved preset",
    "demo": "the first demo: a run that goes wrong on the built-in model, to see a warning and its fix (F5 runs it)",
    "watch": "the run that is training (if any), else the last run shown",
    "open": "open the run under the cursor on the training screen",
    "mark": "mark / unmark the run under the cursor (for o and d)",
    "overlay": "overlay the eval loss curves of the marked runs (or the one under the cursor)",
    "diff": "the arguments that differ between two runs (older -> newer)",
    "rerun": "a new run from this one: the top fix of its newest warning, or the same config; asks first",
    "resume": "go on from the last checkpoint of a stopped or killed run, and watch it",
    "sort": "sort by date or by best eval loss",
    "delete": "delete the run and its folder (checkpoints, model), after asking",
    "export": "export the run's model to a folder here: its adapter, or merged into its base model (asks which); "
              "a full fine-tune's model as it is (as `training-console export` does)",
    "chat": "chat with the run's model next to its base model (the final model, else its newest checkpoint)",
    "first": "the first run",
    "last": "the last run",
    "launch": "launch the run (refused while a field is invalid: the first one is focused)",
    "snippet": "the same arguments as Python (SFTConfig / LoraConfig)",
    "command": "the same run as a training-console command line",
    "save_preset": "save these arguments as a named preset, listed on the method screen",
    "reset_field": "put the focused field back to its default",
    "add_field": "add any other training argument (type part of its name)",
    "goto_field": "jump to a field by name",
    "theme": "light / dark",
    "toggle_theme": "light / dark",
    "quit_app": "quit (asks about runs still training)",
    "quit": "quit (asks about runs still training: leave them running or stop them)",
    "show_keys": "this help",
    "next_field": "next field",
    "previous_field": "previous field",
}


def _key(binding: Binding) -> str:
    if binding.key_display:
        return binding.key_display
    return {"escape": "Esc", "enter": "Enter", "space": "Space", "pageup": "PgUp", "pagedown": "PgDn",
            "up": "Up", "down": "Down"}.get(binding.key, binding.key.upper() if binding.key.startswith("f")
                                              else binding.key)


def help_text(screen, app) -> tuple[str, str]:
    """(title, text) of the help page for `screen`: its keys, then the keys that work everywhere, then the loop."""
    name = getattr(screen, "HELP_NAME", type(screen).__name__.replace("Screen", "").lower() or "screen")
    lines: list = []  # [keys, words] in the order the bindings come, one line per action

    def add(bindings) -> None:
        for binding in bindings:
            if not isinstance(binding, Binding):
                continue
            action = binding.action.split("(")[0]
            if action == "pick" and binding.key != "1":  # 1-9 is one line
                continue
            words = getattr(screen, "HELP_MORE", {}).get(action) or MORE.get(action, binding.description)
            line = next((ln for ln in lines if ln[1] == words), None)
            if line is None:
                lines.append([_key(binding), words])
            elif _key(binding) not in line[0].split("/"):
                line[0] += "/" + _key(binding)  # PgUp/PgDn, q/F10: one line

    add(type(screen).BINDINGS)
    own = len(lines)
    taken = {b.key for b in type(screen).BINDINGS if isinstance(b, Binding)}
    # t chats there, not themes; where letters go into a field (TYPES_LETTERS), q and t type, they do not quit
    typed = getattr(screen, "TYPES_LETTERS", False)
    add(b for b in type(app).BINDINGS if not (isinstance(b, Binding) and (
        b.key in taken or (typed and len(b.key) == 1 and b.key.isprintable()))))
    shown = [f"  {keys:<9} {words}" for keys, words in lines]
    body = [f"Keys on the {name} screen:", *shown[:own]]
    if len(shown) > own:
        body += ["", "Everywhere:", *shown[own:]]
    body += ["", LOOP]
    extra = getattr(screen, "HELP_EXTRA", "")
    if extra:
        body += ["", extra]
    return f"Help: {name}", "\n".join(body)
