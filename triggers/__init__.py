"""Triggers: one module per trigger type, each with its manifest spec model."""
