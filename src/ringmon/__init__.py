"""ringmon's terminal UI and command line."""
