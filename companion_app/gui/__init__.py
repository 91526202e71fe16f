"""Tk panels shared by the companion window (`app.py`) and the Thonny plugin.

Nothing is imported here on purpose: the Thonny plugin's `load_plugin()` must stay cheap, so each
front end imports the panel modules it needs, when it needs them.
"""
