"""Shared pieces of the window that know no feature: workers, theme, settings, small widgets."""
