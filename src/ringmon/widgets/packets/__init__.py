"""Widgets that show one captured packet: its decode tree and its bytes."""
