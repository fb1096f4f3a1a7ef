"""Shared primitives of Herald: errors, the manifest model base, secret refs,
backoff and TLS options. This package imports nothing else of ours."""
