"""File menu: open, save and export configurations and runs."""
