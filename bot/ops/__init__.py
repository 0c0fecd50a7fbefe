"""The operator's view: health checks and Prometheus metrics on a small HTTP port."""
