"""EventSources: one module per source type, each with its manifest model (and later its Source)."""
