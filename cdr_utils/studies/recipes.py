"""Recipes: a profile as a YAML file (configs/profiles/<name>.yaml, or a user's own file), overridden by dotted
keys, and turned into the small config objects of profiles.py with every key and value checked.

    get_profile("cpu", {"generation.n": 2})              # Python
    make demo PROFILE=cpu SET='generation.n=2 annotation.n_prompts=8'
    papermill ... -p profile my.yaml -p overrides '{"strong.name": "org/model"}'

A recipe may start from another with `base: cpu` and list only what differs. Overrides: a dict, a JSON object,
"key=value key=value" (values read as YAML: 8, 0.5, null, [1, 2], text), or "@path.yaml" / a path to a YAML
mapping of dotted keys. A dotted key walks mappings and list items (`pool.4.layers=12`). A recipe's
`gemma_declined` mapping is applied when the Gemma Terms of Use are declined (CDR_GEMMA=0).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path

import yaml

from ..models import gemma_accepted
from .paths import RECIPES, require_checkout



class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file and the key."""


def recipe_path(name: str) -> Path:
    """A built-in recipe's file (configs/profiles/<name>.yaml) or the given .yaml path."""
    if name.endswith((".yaml", ".yml")):
        path = Path(name)
        if not path.exists():
            raise RecipeError(f"recipe file {name} does not exist")
        return path
    require_checkout(f"the built-in recipe {name!r}")
    path = RECIPES / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in RECIPES.glob("*.yaml"))
        raise RecipeError(f"unknown profile {name!r}; expected one of {known} or a path to a .yaml recipe")
    return path


def read_recipe(name: str) -> tuple[dict, Path]:
    """(the recipe as a plain mapping, its file), with `base:` resolved and `gemma_declined` applied or dropped."""
    path = recipe_path(name)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping of keys, got {type(data).__name__}")
    if "base" in data:
        base, _ = read_recipe(str(data.pop("base")))
        data = _merge(base, data)
    data.setdefault("name", path.stem)
    declined = data.pop("gemma_declined", None)
    if declined and not gemma_accepted():
        data = apply_overrides(data, declined, source=f"{path} (gemma_declined)")
    return data, path


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_overrides(overrides) -> dict:
    """{dotted key: value} from a dict, a JSON object, "key=value ..." text, or "@file.yaml" / a .yaml path."""
    if overrides is None or overrides == "" or overrides == {}:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    if isinstance(overrides, (list, tuple)):
        return {k: v for item in overrides for k, v in parse_overrides(item).items()}
    text = str(overrides).strip()
    if text.startswith("{"):
        return json.loads(text)
    if text.startswith("@") or text.endswith((".yaml", ".yml")):
        path = Path(text.lstrip("@"))
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(mapping, dict):
            raise RecipeError(f"{path}: an overrides file is a YAML mapping of dotted keys")
        return mapping
    out = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RecipeError(f"override {item!r}: expected key=value (e.g. generation.n=2)")
        out[key] = yaml.safe_load(value) if value else ""
    return out


def apply_overrides(data: dict, overrides, *, source: str = "overrides") -> dict:
    """A copy of `data` with each dotted key set (mappings and list items are created or replaced)."""
    data = json.loads(json.dumps(data))
    for dotted, value in parse_overrides(overrides).items():
        *path, last = str(dotted).split(".")
        node = data
        for part in path:
            node = _child(node, part, dotted, source, create=True)
        if isinstance(node, list):
            node[_index(node, last, dotted, source)] = value
        else:
            node[last] = value
    return data


def _index(node: list, part: str, dotted: str, source: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise RecipeError(f"{source}: key {dotted!r}: {part!r} is not an index of a list of {len(node)}")
    return int(part)


def _child(node, part: str, dotted: str, source: str, create: bool):
    if isinstance(node, list):
        return node[_index(node, part, dotted, source)]
    if not isinstance(node, dict):
        raise RecipeError(f"{source}: key {dotted!r}: {part!r} is inside a value, not a section")
    if part not in node and create:
        node[part] = {}
    return node[part]


def settings_hash(overrides: dict) -> str:
    return hashlib.sha256(json.dumps(overrides, sort_keys=True, default=str).encode()).hexdigest()[:8]


# -- mapping -> config objects, checked -------------------------------------------------------------------------
def build(cls, data, *, source: str, where: str = ""):
    """An instance of dataclass `cls` from a mapping; unknown keys and wrong types raise RecipeError naming the
    file (`source`) and the dotted key."""
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: key {where or '(top)'!r}: expected a mapping of {cls.__name__} fields, "
                          f"got {data!r:.60}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise RecipeError(f"{source}: unknown key {where + unknown[0]!r}; {cls.__name__} has "
                          f"{', '.join(sorted(fields))}")
    kw = {k: _convert(hints[k], v, source=source, where=f"{where}{k}") for k, v in data.items()}
    try:
        return cls(**kw)
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{source}: {where.rstrip('.') or cls.__name__}: {err}") from err


def _convert(tp, value, *, source: str, where: str):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _convert(next(a for a in args if a is not type(None)), value, source=source, where=where)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, source=source, where=f"{where}.")
    if tp is tuple or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"{source}: key {where!r}: expected a list, got {value!r:.60}")
        item = args[0] if args and (len(args) == 2 and args[1] is Ellipsis) else None
        return tuple(_convert(item, v, source=source, where=f"{where}.{i}") if item is not None else _freeze(v)
                     for i, v in enumerate(value))
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{source}: key {where!r}: expected a mapping, got {value!r:.60}")
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and not (isinstance(value, tp) and not (tp is int and isinstance(value, bool))):
        raise RecipeError(f"{source}: key {where!r}: expected {tp.__name__}, got {value!r:.60}")
    return value


def _freeze(value):
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value
