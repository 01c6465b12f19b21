"""The run folder and what reads or writes it: RunDir, liveness, launcher, metrics, samples, progress, follower."""
