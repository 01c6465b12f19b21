"""A run's settings: RunConfig, the field catalogue, presets, paths, analysis, memory, other tools' configs."""
