"""Thonny IoT Kit engine and desktop companion."""

__version__ = "0.1.0"
