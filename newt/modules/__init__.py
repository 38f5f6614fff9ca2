"""newt.modules."""
