"""Method presets: data only (YAML). Loaded by console.config.presets."""
