"""Command-line interface: argument parsing and printing only, no logic of its own."""
