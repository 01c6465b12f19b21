"""The Textual console: screens and widgets over the engine in `console/` (never imported the other way round)."""
