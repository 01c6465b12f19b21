"""Helpers the tests share: waiting on conditions, finished demo runs, fake run folders for the screens."""
