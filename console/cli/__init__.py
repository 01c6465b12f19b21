"""The `training-console` command: `main` and one module per subcommand under `commands/`."""
