"""The base of the config schemas and their error messages: "key '<a.b>' = <value>: <what is allowed>"."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class Section(BaseModel):
    """A config section or entry: unknown keys are refused and no type is coerced ("5" is not 5)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _submodel(model: type[BaseModel], loc: list[str]) -> type[BaseModel]:
    """The (nested) model that owns the last key of ``loc``, for the list of allowed keys."""
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            continue
        for cand in (field.annotation, *getattr(field.annotation, "__args__", ())):
            for inner in (cand, *getattr(cand, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    model = inner
    return model


def error_text(e: ValidationError, prefix: str, model: type[BaseModel]) -> str:
    """The first error of a validation as "key '<prefix>.<loc>' = <value>: <why>"."""
    err = e.errors()[0]
    loc = [str(x) for x in err["loc"] if not str(x).startswith(("function-", "literal[", "list[", "dict[", "[key]"))]
    key = ".".join(x for x in (prefix, *loc) if x)
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(_submodel(model, loc[:-1]).model_fields)
        return f"key '{key}': unknown key (allowed: {allowed})"
    return f"key '{key}' = {err.get('input')!r}: {err['msg'].removeprefix('Value error, ')}"


def resolve_section(model: type[BaseModel], data: Any, prefix: str, exclude_none: bool = False) -> dict:
    """``data`` checked against ``model`` with the defaults filled in; ValueError from :func:`error_text`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"key '{prefix}' = {data!r}: a mapping of settings")
    try:
        return model.model_validate(data).model_dump(exclude_none=exclude_none)
    except ValidationError as e:
        raise ValueError(error_text(e, prefix, model)) from None
