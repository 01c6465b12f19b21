"""Thread workers owned by the App and their child processes: they only post messages (screens.messages)."""
