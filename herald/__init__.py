"""Herald: an event-driven automation bus in the style of Argo Events.

This package is the application shell (CLI, manifest loading, supervisor,
settings); ``herald.core`` holds the primitives every other package shares.
Kept deliberately light: importing ``herald.core`` must pull in nothing else.
"""

__version__ = "0.1.0"
