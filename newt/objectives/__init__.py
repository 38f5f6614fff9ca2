"""newt.objectives."""
