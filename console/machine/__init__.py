"""This machine: hardware, installed packages, model-loading checks, trackers, scale (accelerate, several nodes)."""
