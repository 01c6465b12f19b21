"""Objective presets: data only (YAML), laid over a method's preset when a run trains a preference objective."""
