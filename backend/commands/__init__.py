"""Subcommands of the `resphase` CLI, one module each; cli.py wires them together."""
