"""What a user does with a run's model: chat, export (merge, push to the Hub)."""
