"""The torch side (trainer and chat child processes only): entry point, callbacks, TRL trainers, model loading."""
