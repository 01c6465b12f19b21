"""One module per subcommand: COMMAND, add_parser(sub), run(args); listed in console.cli.main.COMMANDS."""
