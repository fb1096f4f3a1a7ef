"""Shared primitives of Herald: errors, the manifest model base, secret refs, backoff,
TLS, NATS auth and Kafka client options, durations, paths, templates and cron, name suggestions and
URL masking. This package imports nothing else of ours (the NATS and Kafka clients only
lazily, inside the functions that build their options)."""
