"""Dark Machines challenge csv (arXiv:2105.14027) <-> the event record, both directions.

One event per line, fields separated by ``;``, an object's values by ``,``::

    event ID;process ID;event weight;MET;METphi;obj1,E1,pt1,eta1,phi1;obj2,E2,pt2,eta2,phi2;...

Object codes: ``j`` jet, ``b`` b-jet, ``e-``/``e+`` electron/positron, ``m-``/``m+`` muon/antimuon,
``g`` photon. Energies and momenta are in MeV in the files and in GeV in the event record.

Reading is vectorised over the bytes of a block of lines (numpy finds every delimiter, pyarrow converts
all numeric tokens in one call): no Python work per line or object, so the challenge's multi-GB files
read at disk speed. Jets and b-jets become ``Jet`` (``btag`` 0/1), leptons ``Electron``/``Muon`` with
``charge``, photons ``Photon``; the process name is kept as ``DM_processId`` (CRC32 of the name, the
same in every file) with the names in the reader's notes.

Writing turns the tool's own (generated) events into the same format, so the whole challenge path can
run on generated data.
"""
from __future__ import annotations

import gzip
import zlib

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analysis.io.nanoaod import InputError

CODES = ("j", "b", "e-", "e+", "m-", "m+", "g")
HEADER = ("event ID", "process ID", "event weight", "MET", "METphi")
MEV_PER_GEV = 1000.0
ON_BAD_LINE = ("fail", "skip")
# collection and per-code value of its extra field (Jet.btag, lepton charge); photons have none
_KINDS = {"Jet": ("btag", {"j": 0, "b": 1}), "Electron": ("charge", {"e-": -1, "e+": 1}),
          "Muon": ("charge", {"m-": -1, "m+": 1}), "Photon": (None, {"g": None})}
_SEMI, _COMMA, _NL = ord(";"), ord(","), ord("\n")
_FLOAT_RE = r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_INT_RE = r"^-?[0-9]+$"
_BLOCK_BYTES = 64 << 20


def process_code(name: str) -> int:
    """The number stored for a process name: CRC32, identical across files and runs."""
    return zlib.crc32(name.encode())


def _parse_numbers(tokens: pa.Array, to: pa.DataType, pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """All tokens converted in one pyarrow call; on failure, a vectorised regex finds the bad ones.
    Returns (values, ok mask); non-finite floats are not ok."""
    try:
        values = pc.cast(tokens, to)
        ok = np.ones(len(tokens), bool)
    except pa.ArrowInvalid:
        ok = pc.match_substring_regex(tokens, pattern).to_numpy(zero_copy_only=False)
        values = pc.cast(pc.if_else(pa.array(ok), tokens, pa.scalar("0")), to)
    values = values.to_numpy(zero_copy_only=False)
    return values, ok & np.isfinite(values) if values.dtype.kind == "f" else ok


def _parse_block(buf: np.ndarray) -> dict:
    """Parse complete lines (``buf`` ends with a newline) into flat columns and per-line status.

    Token i is the text between delimiter i-1 and delimiter i (any of ``;`` ``,`` newline). Removing
    the delimiters makes the tokens contiguous, so one pyarrow string array views all of them.
    """
    delim = (buf == _SEMI) | (buf == _COMMA) | (buf == _NL)
    pos = np.flatnonzero(delim)
    n = len(pos)
    kind = buf[pos]
    offsets = np.empty(n + 1, np.int64)
    offsets[0] = 0
    offsets[1:] = pos - np.arange(n)  # end of token i in the delimiter-free buffer
    text = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf[~delim])])
    if np.any(buf == ord(" ")) or np.any(buf == ord("\t")):
        text = pc.utf8_trim_whitespace(text)
    tok_len = pc.binary_length(text).to_numpy(zero_copy_only=False)

    is_nl = kind == _NL
    line = np.cumsum(is_nl) - is_nl
    n_lines = int(is_nl.sum())
    group_start = np.ones(n, bool)
    group_start[1:] = kind[:-1] != _COMMA
    gid = np.cumsum(group_start) - 1
    g_first = np.flatnonzero(group_start)
    g_size = np.diff(np.append(g_first, n))
    g_line = line[g_first]
    line_first_group = np.searchsorted(g_line, np.arange(n_lines))
    g_index = np.arange(len(g_first)) - line_first_group[g_line]
    comma_idx = np.arange(n) - g_first[gid]
    tok_g_index = g_index[gid]

    g_empty = (g_size == 1) & (tok_len[g_first] == 0)
    trailing = g_empty & is_nl[g_first + g_size - 1] & (g_index >= 5)  # "...;" at the line end
    n_groups = np.bincount(g_line[~trailing], minlength=n_lines)
    blank = (np.bincount(g_line, minlength=n_lines) == 1) & g_empty[line_first_group]
    bad = ~blank & (n_groups < 5)
    bad_group = ((g_index < 5) & (g_size != 1)) | ((g_index >= 5) & ~trailing & (g_size != 5))
    bad[g_line[bad_group]] = True

    values = np.full(n, np.nan)
    is_float = ((tok_g_index >= 2) & (tok_g_index <= 4)) | ((tok_g_index >= 5) & (comma_idx >= 1))
    idx = np.flatnonzero(is_float & ~trailing[gid])
    values[idx], ok = _parse_numbers(text.take(pa.array(idx)), pa.float64(), _FLOAT_RE)
    bad[line[idx[~ok]]] = True
    # the event ID (first token of each line) stays an integer: 10^17-size IDs do not fit a float64
    event_id, ok = _parse_numbers(text.take(pa.array(g_first[line_first_group])), pa.int64(), _INT_RE)
    bad |= ~ok & ~blank
    obj_groups = np.flatnonzero((g_index >= 5) & ~trailing & (g_size == 5))
    codes = pc.index_in(text.take(pa.array(g_first[obj_groups])), value_set=pa.array(CODES))
    codes = codes.fill_null(-1).to_numpy(zero_copy_only=False)
    bad[g_line[obj_groups[codes < 0]]] = True

    good = ~bad & ~blank
    first = g_first[line_first_group[good]]  # header tokens are first .. first+4
    keep = good[g_line[obj_groups]]
    t0, codes = g_first[obj_groups[keep]], codes[keep]
    rank = np.cumsum(good) - 1
    return {
        "bad_lines": np.flatnonzero(bad), "n_lines": n_lines, "n_events": int(good.sum()),
        "event": event_id[good], "process": text.take(pa.array(first + 1)),
        "weight": values[first + 2], "met": values[first + 3], "met_phi": values[first + 4],
        "obj_event": rank[line[t0]], "obj_code": codes,
        **{f: values[t0 + k] for k, f in enumerate(("E", "pt", "eta", "phi"), start=1)},
    }


def _diagnose(text: str) -> str:
    """Why one line is malformed, in words (only called for the line an error reports)."""
    fields = text.strip().split(";")
    if fields and fields[-1] == "" and len(fields) > 5:
        fields = fields[:-1]
    if len(fields) < 5:
        return f"expected at least 5 ';'-separated fields ({';'.join(HEADER)}), found {len(fields)}"
    for name, value in zip(HEADER, fields):
        if "," in value:
            return f"{name} '{value}' contains ','"
    checks = [(HEADER[0], fields[0], int)] + [(HEADER[k], fields[k], float) for k in (2, 3, 4)]
    for i, obj in enumerate(fields[5:], start=1):
        parts = obj.split(",")
        if len(parts) != 5:
            return f"object {i} '{obj}' has {len(parts)} ','-separated values, expected 5 (code,E,pt,eta,phi)"
        if parts[0].strip() not in CODES:
            return f"object {i}: unknown object code '{parts[0]}' (known: {', '.join(CODES)})"
        checks += [(f"object {i} {q}", v, float) for q, v in zip(("E", "pt", "eta", "phi"), parts[1:])]
    for name, value, kind in checks:
        try:
            ok = np.isfinite(kind(value))
        except ValueError:
            ok = False
        if not ok:
            return f"{name} '{value.strip()}' is not a finite {'integer' if kind is int else 'number'}"
    return "malformed"


def _blocks(path: str, block_bytes: int):
    """Chunks of whole lines as uint8 arrays ending in a newline, with the line number they start at."""
    opener = gzip.open if path.endswith(".gz") else open
    rest, first_line = b"", 1
    with opener(path, "rb") as f:
        while True:
            chunk = f.read(block_bytes)
            data = rest + chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)  # at the end: whatever is left
            block, rest = data[:cut], data[cut:]
            if block:
                buf = np.frombuffer(block if block.endswith(b"\n") else block + b"\n", np.uint8)
                if np.any(buf == ord("\r")):
                    buf = buf[buf != ord("\r")]
                yield buf, first_line
                first_line += int(np.count_nonzero(buf == _NL))
            if not chunk:
                return


def _line_text(buf: np.ndarray, index: int) -> str:
    ends = np.flatnonzero(buf == _NL)
    start = ends[index - 1] + 1 if index else 0
    return buf[start:ends[index]].tobytes().decode(errors="replace")


def read_darkmachines(path: str, on_bad_line: str = "fail", block_bytes: int = _BLOCK_BYTES
                      ) -> tuple[ak.Array, dict]:
    """Read a challenge csv into the event record (GeV) and notes on what was read.

    ``on_bad_line``: ``fail`` raises InputError naming the file, the line number and what is wrong;
    ``skip`` leaves malformed lines out and counts them in the notes (``bad_lines``, with the first
    line numbers in ``bad_line_numbers``).
    """
    if on_bad_line not in ON_BAD_LINE:
        raise ValueError(f"on_bad_line: one of {', '.join(ON_BAD_LINE)}, got {on_bad_line!r}")
    try:
        parts, bad_numbers, n_bad = [], [], 0
        for buf, first_line in _blocks(path, block_bytes):
            part = _parse_block(buf)
            if len(part["bad_lines"]):
                i = int(part["bad_lines"][0])
                if on_bad_line == "fail":
                    raise InputError(f"{path}: line {first_line + i}: {_diagnose(_line_text(buf, i))}")
                n_bad += len(part["bad_lines"])
                bad_numbers += (first_line + part["bad_lines"][:20 - len(bad_numbers)]).tolist()
            parts.append(part)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
    events, names = _assemble(parts)
    notes = {"lines": sum(p["n_lines"] for p in parts), "bad_lines": n_bad, "bad_line_numbers": bad_numbers,
             "processes": {str(process_code(s)): s for s in names}}
    return events, notes


def _assemble(parts: list[dict]) -> tuple[ak.Array, list[str]]:
    """Flat per-block columns -> one awkward event record in GeV."""
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if isinstance(parts[0][k], np.ndarray)
           and k != "bad_lines"}
    shift = np.cumsum([0] + [p["n_events"] for p in parts[:-1]])
    cat["obj_event"] = np.concatenate([p["obj_event"] + s for p, s in zip(parts, shift)])
    n_events = int(sum(p["n_events"] for p in parts))
    process = pa.chunked_array([p["process"] for p in parts], pa.large_string()).combine_chunks().dictionary_encode()
    names = process.dictionary.to_pylist()
    codes = np.array([process_code(s) for s in names], np.uint32)
    pt, eta, e = cat["pt"] / MEV_PER_GEV, cat["eta"], cat["E"] / MEV_PER_GEV
    mass = np.sqrt(np.maximum(e**2 - (pt * np.cosh(eta)) ** 2, 0.0))
    fields = {}
    for coll, (extra, by_code) in _KINDS.items():
        code_ids = [CODES.index(c) for c in by_code]
        sel = np.isin(cat["obj_code"], code_ids)
        counts = np.bincount(cat["obj_event"][sel], minlength=n_events)
        cols = {"pt": pt[sel], "eta": eta[sel], "phi": cat["phi"][sel]}
        if coll != "Photon":
            cols["mass"] = mass[sel]
        if extra:
            lookup = np.zeros(len(CODES), np.int32)
            lookup[code_ids] = list(by_code.values())
            cols[extra] = lookup[cat["obj_code"][sel]]
        fields[coll] = ak.unflatten(ak.zip({k: v.astype(np.int32 if k == extra else np.float32)
                                            for k, v in cols.items()}), counts)
    fields["MET"] = ak.zip({"pt": (cat["met"] / MEV_PER_GEV).astype(np.float32),
                            "phi": cat["met_phi"].astype(np.float32)})
    fields["genWeight"] = cat["weight"]
    fields["event"] = cat["event"].astype(np.uint64)
    fields["DM"] = ak.zip({"processId": codes[process.indices.to_numpy(zero_copy_only=False)]})
    return ak.Array(fields), names


def energy(objects: ak.Array) -> ak.Array:
    """E from (pt, eta, mass); objects without a mass field (photons) are massless."""
    p = objects.pt * np.cosh(objects.eta)
    return np.sqrt(p**2 + objects.mass**2) if "mass" in objects.fields else p


def _strings(x: np.ndarray) -> pa.Array:
    """Shortest text that reads back to the same float32 (or integer)."""
    return pc.cast(pa.array(x), pa.string())


def write_darkmachines(path: str, events: ak.Array, process: str) -> None:
    """Write an event record (GeV) as a challenge csv (MeV), all events labelled ``process``.

    Jets with ``btag`` > 0.5 are written as ``b``; absent collections (a file without photons) write
    none. Writes to ``path`` directly; callers make it atomic.
    """
    objs = []
    for coll, (extra, by_code) in _KINDS.items():
        if coll not in events.fields:
            continue
        o = events[coll]
        if coll == "Jet":
            code = ak.values_astype(o.btag > 0.5, np.int64) if "btag" in o.fields else ak.zeros_like(o.pt, dtype=np.int64)
        elif extra:
            code = ak.values_astype(o.charge > 0, np.int64)
        else:
            code = ak.zeros_like(o.pt, dtype=np.int64)
        code = code + CODES.index(next(iter(by_code)))
        objs.append(ak.zip({"code": code, "E": energy(o) * MEV_PER_GEV, "pt": o.pt * MEV_PER_GEV,
                            "eta": o.eta, "phi": o.phi}))
    allobj = ak.concatenate(objs, axis=1) if objs else ak.Array([[]] * len(events))
    counts = ak.to_numpy(ak.num(allobj)).astype(np.int64)
    flat = ak.flatten(allobj)
    obj_text = pc.binary_join_element_wise(
        pa.array(CODES).take(pa.array(ak.to_numpy(flat.code) if len(flat) else np.zeros(0, np.int64))),
        *(_strings(ak.to_numpy(flat[f]).astype(np.float32) if len(flat) else np.zeros(0, np.float32))
          for f in ("E", "pt", "eta", "phi")), ",")
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    per_event = pc.binary_join(pa.ListArray.from_arrays(offsets, pc.binary_join_element_wise(obj_text, "", ";")), "")
    n = len(events)
    header = pc.binary_join_element_wise(
        _strings(ak.to_numpy(events.event).astype(np.uint64)), pa.array([process] * n, pa.string()),
        _strings(np.asarray(ak.to_numpy(events.genWeight), np.float64)),
        _strings((ak.to_numpy(events.MET.pt) * MEV_PER_GEV).astype(np.float32)),
        _strings(ak.to_numpy(events.MET.phi).astype(np.float32)), per_event, ";")
    with open(path, "w") as f:
        f.writelines(line + "\n" for line in header.to_pylist())
