"""Whole screens and modal dialogs of the dashboard."""
