"""Which files to watch: Argo's ``WatchPathConfig`` and file operation names.

Three Argo source types watch paths: ``file`` and ``sftp`` nest a
``watchPathConfig``, ``hdfs`` inlines the same three fields. They share this
module (a building block beside the adapters, as ``http_server`` is for the
HTTP-push types) so that siblings do not import each other. It checks what
Argo's ``WatchPathConfig.Validate`` checks: an absolute ``directory``, exactly
one of ``path`` (relative) or ``pathRegexp`` (a valid regular expression).
"""

from __future__ import annotations

import posixpath
import re
from typing import Final, Self

from pydantic import Field, model_validator

from eventsources.base import Problem, field_error, raise_problems
from herald.core.model import Spec

FILE_OPERATIONS: Final[tuple[str, ...]] = ("CREATE", "WRITE", "REMOVE", "RENAME", "CHMOD")
"""The operation names Argo matches file events against (fsnotify's)."""


def check_operations(value: str, what: str) -> str:
    """``CREATE``, ``WRITE``, ... or several joined with ``|``; an error naming ``what``."""
    parts = value.split("|")
    unknown = [p for p in parts if p not in FILE_OPERATIONS]
    if not value or unknown:
        shown = ", ".join(repr(p) for p in unknown) if value else "nothing"
        raise field_error(
            "invalid_operation",
            f"{what} {value!r} names {shown}: use one of {', '.join(FILE_OPERATIONS)} "
            "(upper case), e.g. CREATE",
        )
    return value


class WatchPathConfig(Spec):
    """A directory and, inside it, one path or a regular expression of paths."""

    directory: str = Field(description="Absolute path of the directory to watch, e.g. /data/.")
    path: str | None = Field(
        default=None, description="File to watch, relative to directory, e.g. x.txt."
    )
    path_regexp: str | None = Field(
        default=None,
        description="Regular expression of the relative paths to watch, e.g. '.*\\.txt'.",
    )

    @model_validator(mode="after")
    def _one_path(self) -> Self:
        raise_problems(watch_path_problems(self), type(self).__name__)
        return self


def watch_path_problems(config: WatchPathConfig) -> list[Problem]:
    """What Argo rejects in a watch path: relative directory, zero or two path kinds, bad regexp.

    Paths are relative to ``config``; sources that inline the fields (``hdfs``)
    call this from their own validator.
    """
    problems: list[Problem] = []
    if not config.directory:
        problems.append(Problem(("directory",), "directory is required, e.g. /data/", ""))
    elif not posixpath.isabs(config.directory):
        problems.append(
            Problem(
                ("directory",),
                f"directory {config.directory!r} must be an absolute path, e.g. /data/",
                config.directory,
            )
        )
    if not config.path and not config.path_regexp:
        problems.append(
            Problem(("path",), "set path (a file name) or pathRegexp (a pattern of names)", None)
        )
    elif config.path and config.path_regexp:
        problems.append(
            Problem(("pathRegexp",), "set path or pathRegexp, not both", config.path_regexp)
        )
    elif config.path and posixpath.isabs(config.path):
        problems.append(
            Problem(
                ("path",),
                f"path {config.path!r} must be relative to directory, e.g. x.txt",
                config.path,
            )
        )
    elif config.path_regexp:
        try:
            re.compile(config.path_regexp)
        except re.error as e:
            problems.append(
                Problem(
                    ("pathRegexp",),
                    f"pathRegexp {config.path_regexp!r} is not a regular expression: {e}",
                    config.path_regexp,
                )
            )
    return problems
