"""Sample grids: one catalogue entry with a ``grid:`` spec stands for one sample per parameter point.

```
svj_s:
  grid:
    name: svj_s_m{m_med}_r{r_inv}
    params: {m_med: [1500, 2000], r_inv: [0.1, 0.3]}
  process: svj_schannel
  params: {m_dark: 20, n_c: 2, n_f: 2}
```

expands to ``svj_s_m1500_r0.1``, ``svj_s_m1500_r0.3``, ... (the cartesian product of the lists), each
with the entry's keys and its point merged into ``params``. A named config may pick single points, or
the grid's own name for all of them.
"""
from __future__ import annotations

import itertools
import string

GRID_KEYS = {"name", "params"}


def _expand_one(entry_name: str, entry: dict) -> dict[str, dict]:
    grid = entry["grid"]
    where = f"{entry_name}.grid"
    if not isinstance(grid, dict) or set(grid) != GRID_KEYS:
        raise ValueError(f"{where}: a mapping with exactly the keys {', '.join(sorted(GRID_KEYS))}")
    template, axes = grid["name"], grid["params"]
    if not isinstance(axes, dict) or not axes or not all(isinstance(v, list) and v for v in axes.values()):
        raise ValueError(f"{where}.params: a mapping of parameter name -> non-empty list of values")
    if not isinstance(template, str):
        raise ValueError(f"{where}.name: a name template such as '{entry_name}_m{{m_med}}'")
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    if fields != set(axes):
        raise ValueError(f"{where}.name: the template '{template}' must name each grid parameter once "
                         f"({', '.join(sorted(axes))}), it names {', '.join(sorted(fields)) or 'none'}")
    base = {k: v for k, v in entry.items() if k != "grid"}
    fixed = base.get("params") or {}
    clash = sorted(set(fixed) & set(axes))
    if clash:
        raise ValueError(f"{entry_name}.params: {', '.join(clash)} also varied by the grid")
    out = {}
    for values in itertools.product(*axes.values()):
        point = dict(zip(axes, values))
        out[template.format(**point)] = base | {"params": fixed | point}
    return out


def expand_grids(catalogue: dict) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """The catalogue with every grid entry replaced by its points, and ``{grid name: [point names]}``.

    Raises ValueError naming the entry and key for a malformed grid or a point name that is taken.
    """
    samples, grids = {}, {}
    for name, entry in catalogue.items():
        if not (isinstance(entry, dict) and "grid" in entry):
            samples[name] = entry
            continue
        points = _expand_one(name, entry)
        grids[name] = list(points)
        for point, spec in points.items():
            if point in samples or point in catalogue:
                raise ValueError(f"{name}.grid: point '{point}' is already a sample of the catalogue")
            samples[point] = spec
    return samples, grids
