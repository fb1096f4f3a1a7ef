"""The base of every manifest model: strict, camelCase, Argo field names.

External input (manifests, webhook envelopes, settings) is validated by pydantic
v2 models that forbid unknown fields, so a typo is an error with its path rather
than a silently dropped setting (Argo Events' CRDs preserve unknown fields).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

HERALD_EXTENSION = "Herald extension"
"""How the description of a field that Argo Events does not have begins.

``herald validate --argo`` reports such fields when they are set, since Argo
would silently drop them; keep the convention when adding one.
"""


class Spec(BaseModel):
    """Base for manifest sections: unknown fields are errors, aliases are camelCase.

    Python attributes are snake_case; the manifest spells them in camelCase
    exactly as Argo Events does, and only that spelling is accepted (build
    instances with ``Model.model_validate({...})`` in camelCase). Fields whose
    Argo name is not the camelCase of the attribute (``url`` vs ``URL``,
    ``appID``) set their alias explicitly.
    """

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        frozen=True,
    )
