"""Apply a farm's path-mapping rules (OpenJD ``pathmapping-1.0``) to the paths inside a job spec.

OpenJD maps the PATH job parameters itself, but the plate and matte paths live inside the job
spec's JSON, where no farm looks: each worker task applies its session's rules file to them, so a
job submitted from one machine (or operating system) finds its plates on another. Standard
library only.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from void_vfx.errors import SpecError
from void_vfx.job.spec import FILE_FIELDS

VERSION = "pathmapping-1.0"


@dataclasses.dataclass(frozen=True)
class Rule:
    """One rule: paths under ``source`` (in ``source_format``, POSIX or WINDOWS) move to
    ``destination`` (a path of this machine)."""

    source_format: str
    source: str
    destination: str

    def apply(self, path: str) -> str | None:
        """The mapped path, or None when the path is not under the rule's source."""
        windows = self.source_format.upper() == "WINDOWS"
        norm = (
            (lambda p: p.replace("/", "\\").rstrip("\\"))
            if windows
            else (lambda p: p.rstrip("/") or "/")
        )
        src, p = norm(self.source), norm(path)
        if windows:
            src_cmp, p_cmp = src.lower(), p.lower()
        else:
            src_cmp, p_cmp = src, p
        sep = "\\" if windows else "/"
        if p_cmp == src_cmp:
            rest = ""
        elif p_cmp.startswith(src_cmp.rstrip(sep) + sep):
            rest = p[len(src.rstrip(sep)) + 1 :]
        else:
            return None
        parts = [x for x in rest.split(sep) if x]
        return os.path.join(self.destination, *parts) if parts else self.destination


def load_rules(source: str | None) -> list[Rule]:
    """Rules from a ``pathmapping-1.0`` JSON file (OpenJD's ``Session.PathMappingRulesFile``);
    an empty file object (``{}``, no rules) or no file gives none."""
    if not source:
        return []
    try:
        with open(source, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise SpecError("path_mapping_rules", f"{source}: cannot read the rules ({exc})") from None
    if not data:
        return []
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise SpecError("path_mapping_rules", f"{source}: expected version {VERSION!r}")
    rules = []
    for i, r in enumerate(data.get("path_mapping_rules") or []):
        try:
            rules.append(Rule(r["source_path_format"], r["source_path"], r["destination_path"]))
        except (KeyError, TypeError):
            raise SpecError(
                "path_mapping_rules",
                f"{source}: rule {i} needs source_path_format, source_path, destination_path",
            ) from None
    # The longest source wins, as OpenJD applies them.
    return sorted(rules, key=lambda r: len(r.source), reverse=True)


def map_path(path: str, rules: list[Rule]) -> str:
    for rule in rules:
        mapped = rule.apply(path)
        if mapped is not None:
            return mapped
    return path


def map_spec(spec: Any, rules: list[Rule]) -> Any:
    """A copy of ``spec`` with its file fields and output folder mapped (the spec is unchanged)."""
    if not rules:
        return spec

    changes: dict[str, Any] = {}
    for name in FILE_FIELDS:
        value = getattr(spec, name)
        if isinstance(value, str):
            changes[name] = map_path(value, rules)
        elif value is not None:
            changes[name] = dataclasses.replace(value, path=map_path(value.path, rules))
    if spec.output.dir:
        changes["output"] = dataclasses.replace(spec.output, dir=map_path(spec.output.dir, rules))
    return dataclasses.replace(spec, **changes)
