"""The dashboard's widgets, grouped by what they show."""
