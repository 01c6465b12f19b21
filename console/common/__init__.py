"""The bottom layer: errors, numbers for people, safe text and YAML, atomic file writes. Imports nothing of ours."""
