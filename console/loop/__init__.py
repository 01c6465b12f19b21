"""The engine's front door that both front ends call: preflight, findings of a run, start, the next run."""
