"""The msgspec Struct base of the OCI documents lading only writes (features) or hands to hooks
(state).

OCI documents spell their keys in camelCase with a few acronyms; the models use snake_case
attributes and ``rename="camel"``. Unknown keys are ignored, as the runtime spec requires
("Extensibility" in config.md). config.json's models are lading.spec.model classes instead,
which cost no msgspec import on the verbs that start every container.
"""

import msgspec


class OCIStruct(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False, rename="camel"):
    """Base of the msgspec OCI models. Subclasses also pass ``kw_only=True`` (not inherited)."""
