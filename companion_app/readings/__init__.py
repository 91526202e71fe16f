"""Live readings: turn a board's printed output into named series, store, record and plot them.

The engine here imports no Tk and no Thonny, so the CLI, the companion's Plot panel and the
Thonny plug-in share one parser and one store.
"""
