"""The ``hdfs`` source config: Argo's ``HDFSEventSource`` (model only).

Events for file operations in a directory of HDFS, found by polling. The
watch path fields (``directory``, ``path``, ``pathRegexp``) sit inline, as in
Argo. ``herald validate`` checks what Argo checks: an operation name, a valid
``checkInterval``, at least one name node address, a user or Kerberos
credentials, and the Kerberos settings each credential needs. ``herald run``
refuses the type until it has an adapter.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    Problem,
    SourceConfig,
    field_error,
    filter_field,
    metadata_field,
    raise_problems,
)
from eventsources.watch_path import WatchPathConfig, check_operations
from herald.core.durations import parse_go_duration
from herald.core.refs import ConfigMapKeySelector, SecretKeySelector


class HDFSEventSource(WatchPathConfig, SourceConfig):
    """One HDFS event: name nodes, credentials, and which operation on which files."""

    type: str = Field(description="Operation to report: CREATE, WRITE, REMOVE, RENAME or CHMOD.")
    check_interval: str | None = Field(
        default=None, description="How often to check the directory, e.g. 30s (default 1m)."
    )
    addresses: list[str] = Field(
        min_length=1, description="Name node addresses as host:port, e.g. [namenode-0:8020]."
    )
    hdfs_user: str | None = Field(
        default=None, description="HDFS user (ignored when Kerberos credentials are set)."
    )
    krb_c_cache_secret: SecretKeySelector | None = Field(
        default=None, alias="krbCCacheSecret", description="Kerberos credential cache."
    )
    krb_keytab_secret: SecretKeySelector | None = Field(
        default=None, description="Kerberos keytab (with krbUsername and krbRealm)."
    )
    krb_username: str | None = Field(
        default=None, description="Kerberos user name; required with krbKeytabSecret."
    )
    krb_realm: str | None = Field(
        default=None, description="Kerberos realm; required with krbKeytabSecret."
    )
    krb_config_config_map: ConfigMapKeySelector | None = Field(
        default=None,
        description="ConfigMap key holding krb5.conf; required with Kerberos credentials.",
    )
    krb_service_principal_name: str | None = Field(
        default=None,
        description="Kerberos principal of the HDFS service; required with Kerberos credentials.",
    )
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()

    @field_validator("type")
    @classmethod
    def _operation(cls, value: str) -> str:
        return check_operations(value, "type")

    @field_validator("check_interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            seconds = parse_go_duration(value)
        except ValueError as e:
            raise field_error("invalid_duration", f"checkInterval: {e}") from None
        if seconds <= 0:
            raise field_error("invalid_duration", "checkInterval must be longer than zero, e.g. 1m")
        return value

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        if any(not a.strip() for a in value):
            raise field_error("blank_name", "addresses must not contain an empty address")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        problems: list[Problem] = []
        cache, keytab = self.krb_c_cache_secret, self.krb_keytab_secret
        if not self.hdfs_user and cache is None and keytab is None:
            problems.append(
                Problem(
                    ("hdfsUser",),
                    "say who reads HDFS: set hdfsUser, krbCCacheSecret or krbKeytabSecret",
                    None,
                    "required",
                )
            )
        if cache is not None or keytab is not None:
            using = "krbKeytabSecret" if keytab is not None else "krbCCacheSecret"
            needed: list[tuple[str, object]] = [
                ("krbServicePrincipalName", self.krb_service_principal_name),
                ("krbConfigConfigMap", self.krb_config_config_map),
            ]
            if keytab is not None:
                needed += [("krbUsername", self.krb_username), ("krbRealm", self.krb_realm)]
            for name, value in needed:
                if not value:
                    problems.append(
                        Problem((name,), f"{name} is required with {using}", None, "required")
                    )
        raise_problems(problems, type(self).__name__)
        return self
