"""newt.collectors."""
