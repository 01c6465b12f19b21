"""Datasets: the format registry, readers and their checks, the demo model and data."""
