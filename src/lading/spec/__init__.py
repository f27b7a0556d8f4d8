"""OCI data models (runtime config, state, features; image documents), decoded with precise errors."""
