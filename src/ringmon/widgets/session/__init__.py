"""Widgets about the whole capture session rather than one interface."""
