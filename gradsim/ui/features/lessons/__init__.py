"""The Lessons dock: guided lessons with predict/observe/explain steps."""
