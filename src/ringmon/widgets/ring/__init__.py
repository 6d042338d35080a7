"""Widgets that draw one interface's slot ring: occupancy, slot map, drops by stage, polling."""
