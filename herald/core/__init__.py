"""Shared primitives of Herald: errors, the manifest model base, secret refs, backoff,
TLS and NATS auth options, durations, paths, templates and cron, name suggestions and
URL masking. This package imports nothing else of ours (the NATS client only lazily,
inside the functions that build its options)."""
