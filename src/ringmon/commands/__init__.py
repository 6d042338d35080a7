"""The commands `ringmon` dispatches to besides the dashboard: one module each (cli.py parses and routes)."""
