"""resphase: phase-diagram explorer for deep residual networks (system of record)."""

__version__ = "0.1.0"
