"""Widgets about one interface as a whole: its panel, traffic rates and the operating system's facts."""
