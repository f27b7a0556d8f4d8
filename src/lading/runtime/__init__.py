"""OCI runtime semantics: state store, lifecycle, the container init process, exec, hooks."""
