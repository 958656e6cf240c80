"""The Training tab: control panel, dashboard of live plots, the runner that trains, offscreen rendering."""
