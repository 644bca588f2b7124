"""Dark Machines challenge csv (arXiv:2105.14027) <-> the event record, both directions.

One event per line, fields separated by ``;``, an object's values by ``,``::

    event ID;process ID;event weight;MET;METphi;obj1,E1,pt1,eta1,phi1;obj2,E2,pt2,eta2,phi2;...

Object codes: ``j`` jet, ``b`` b-jet, ``e-``/``e+`` electron/positron, ``m-``/``m+`` muon/antimuon,
``g`` photon. Energies and momenta are in MeV in the files and in GeV in the event record.

Reading is one compiled pass (numba) over each block of lines that tokenises, checks the layout and
converts the numbers at once: no Python work per line or object (a per-line regular expression is
~20-50x slower, benchmarks/bench_csv.py), so the challenge's multi-GB files read at disk speed. Jets and b-jets become ``Jet`` (``btag`` 0/1), leptons ``Electron``/``Muon`` with
``charge``, photons ``Photon``; the process name is kept as ``DM_processId`` (CRC32 of the name, the
same in every file) with the names in the reader's notes.

Writing turns the tool's own (generated) events into the same format, so the whole challenge path can
run on generated data.
"""
from __future__ import annotations

import gzip
import zlib

import awkward as ak
import numba
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
_BLOCK_BYTES = 32 << 20


def process_code(name: str) -> int:
    """The number stored for a process name: CRC32, identical across files and runs."""
    return zlib.crc32(name.encode())


_SPACE, _TAB, _MINUS, _PLUS, _DOT = (ord(c) for c in " \t-+.")
_BAD, _BLANK = 1, 2  # line status; 0: a good event
_POW10 = 10.0 ** np.arange(23)  # exact in float64: m / 10^k is correctly rounded for m < 2^53
# object code -> collection (0 Jet, 1 Electron, 2 Muon, 3 Photon) and its extra field (btag / charge)
_COLLECTION = np.array([0, 0, 1, 1, 2, 2, 3], np.int64)
_EXTRA = np.array([0, 1, -1, 1, -1, 1, 0], np.float32)


@numba.njit(cache=True, inline="always")
def _skip_space(buf, p):
    """Skip blanks (space, tab, carriage return: any byte below '!' except the newline)."""
    while buf[p] < 33 and buf[p] != _NL:
        p += 1
    return p


@numba.njit(cache=True, inline="always")
def _delimiter(buf, p):
    """After a token: skip blanks; (``;`` or ``,`` consumed, the newline not, or -1 for junk; position)."""
    p = _skip_space(buf, p)
    c = np.int64(buf[p])
    if c == _SEMI or c == _COMMA:
        return c, p + 1
    return (c, p) if c == _NL else (-1, p)


@numba.njit(cache=True)
def _integer(buf, p):
    """``[-]digits`` (at most 18) at ``p`` -> (value, ok, delimiter, next position)."""
    p = _skip_space(buf, p)
    negative = buf[p] == _MINUS
    p += negative
    start, value = p, 0
    while np.uint8(buf[p] - 48) <= 9:
        value = value * 10 + np.int64(buf[p] - 48)
        p += 1
    digits = p - start
    delim, p = _delimiter(buf, p)
    ok = 0 < digits <= 18 and delim >= 0
    return (-value if negative else value), ok, delim, p


@numba.njit(cache=True)
def _float(buf, p):
    """``[-]digits[.digits][(e|E)[+-]digits]`` at ``p`` -> (value, ok, delimiter, next position).

    Digits accumulate in a float64 (exact up to 15 significant digits, then within an ulp), the
    decimal point and exponent scale by an exact power of ten."""
    p = _skip_space(buf, p)
    negative = buf[p] == _MINUS
    p += negative
    start, dot, mantissa = p, -1, 0.0
    while True:
        digit = np.uint8(buf[p] - 48)  # wraps above 9 for every byte that is not a digit
        if digit <= 9:
            mantissa = mantissa * 10.0 + digit
        elif buf[p] == _DOT and dot < 0:
            dot = p
        else:
            break
        p += 1
    digits = p - start - (dot >= 0)
    exp10 = p - dot - 1 if dot >= 0 else 0
    exp10 = -exp10
    if digits and (buf[p] == 101 or buf[p] == 69):  # e E
        q = p + 1
        e_negative = buf[q] == _MINUS
        q += buf[q] == _MINUS or buf[q] == _PLUS
        e, e_start = 0, q
        while np.uint8(buf[q] - 48) <= 9 and q - e_start < 4:
            e = e * 10 + np.int64(buf[q] - 48)
            q += 1
        if q == e_start:
            return 0.0, False, -1, p
        exp10 += -e if e_negative else e
        p = q
    delim, p = _delimiter(buf, p)
    if digits == 0 or delim < 0:
        return 0.0, False, -1, p
    if 0 <= exp10 <= 22:
        mantissa *= _POW10[exp10]
    elif -22 <= exp10 < 0:
        mantissa /= _POW10[-exp10]
    else:
        mantissa *= 10.0**exp10
    return (-mantissa if negative else mantissa), True, delim, p


@numba.njit(cache=True)
def _code(buf, p):
    """Object code at ``p`` -> (index in CODES or -1, delimiter, next position)."""
    p = _skip_space(buf, p)
    c, second = buf[p], buf[p + 1]
    code = -1
    if c == 106 or c == 98 or c == 103:  # j b g
        code = 0 if c == 106 else (1 if c == 98 else 6)
        p += 1
    elif (c == 101 or c == 109) and (second == _MINUS or second == _PLUS):  # e- e+ m- m+
        code = (2 if c == 101 else 4) + (second == _PLUS)
        p += 2
    delim, p = _delimiter(buf, p)
    return code, delim, p


@numba.njit(cache=True)
def _scan(buf):
    """One compiled pass over whole lines (``buf`` ends with a newline): per line its status, per good
    event its header and its number of objects of each collection, per collection its objects'
    (pt, eta, phi, mass, btag or charge) in GeV, in file order. A malformed line writes nothing.
    Outputs are sized by what the bytes could hold (a line takes at least 1 byte, an event or an
    object at least 10) and left uninitialised: the system maps pages when first written, so only
    what is written costs memory."""
    n, most = len(buf), len(buf) // 10 + 1
    status = np.empty(n, np.int8)
    event = np.empty(most, np.int64)
    weight = np.empty(most, np.float64)
    met = np.empty((most, 2), np.float32)
    proc = np.empty((most, 3), np.int64)  # FNV-1a hash of the process name, its start and end
    counts = np.empty((4, most), np.int64)
    obj = np.empty((4, 5, most), np.float32)
    n_col, first = np.zeros(4, np.int64), np.zeros(4, np.int64)
    p, line, n_ev = 0, 0, 0
    while p < n:
        p = _skip_space(buf, p)
        if buf[p] == _NL:
            status[line] = _BLANK
        else:
            ident, ok, delim, p = _integer(buf, p)
            ok = ok and delim == _SEMI
            p = _skip_space(buf, p)
            q, h = p, np.uint64(14695981039346656037)
            while ok and buf[q] != _SEMI and buf[q] != _COMMA and buf[q] != _NL:
                h = (h ^ np.uint64(buf[q])) * np.uint64(1099511628211)
                q += 1
            r = q
            while r > p and (buf[r - 1] == _SPACE or buf[r - 1] == _TAB):
                r -= 1
            ok = ok and buf[q] == _SEMI and r > p  # a non-empty name: every event takes >= 10 bytes
            proc[n_ev, 0] = np.int64(h)
            proc[n_ev, 1] = p
            proc[n_ev, 2] = r
            p = q + 1
            w, ok_w, delim, p = _float(buf, p) if ok else (0.0, False, -1, p)
            m, ok_m, delim, p = _float(buf, p) if ok_w and delim == _SEMI else (0.0, False, -1, p)
            phi, ok, delim, p = _float(buf, p) if ok_m and delim == _SEMI else (0.0, False, -1, p)
            ok = ok and delim != _COMMA
            weight[n_ev], met[n_ev, 0], met[n_ev, 1] = w, m / MEV_PER_GEV, phi
            first[:] = n_col
            while ok and delim == _SEMI:
                p = _skip_space(buf, p)
                if buf[p] == _NL:  # a ';' ending the line
                    break
                code, delim, p = _code(buf, p)
                ok = code >= 0 and delim == _COMMA
                energy, ok, delim, p = _float(buf, p) if ok else (0.0, False, -1, p)
                pt, ok, delim, p = _float(buf, p) if ok and delim == _COMMA else (0.0, False, -1, p)
                eta, ok, delim, p = _float(buf, p) if ok and delim == _COMMA else (0.0, False, -1, p)
                phi, ok, delim, p = _float(buf, p) if ok and delim == _COMMA else (0.0, False, -1, p)
                ok = ok and delim != _COMMA
                if ok:
                    exp_eta = np.exp(eta)
                    pz = 0.5 * pt * (exp_eta - 1.0 / exp_eta)  # pt sinh(eta), one exp instead of sinh
                    k, i = _COLLECTION[code], n_col[_COLLECTION[code]]
                    obj[k, 0, i] = pt / MEV_PER_GEV
                    obj[k, 1, i] = eta
                    obj[k, 2, i] = phi
                    obj[k, 3, i] = np.sqrt(max(energy * energy - pt * pt - pz * pz, 0.0)) / MEV_PER_GEV
                    obj[k, 4, i] = _EXTRA[code]
                    n_col[k] += 1
            status[line] = 0
            if ok:
                event[n_ev] = ident
                for k in range(4):
                    counts[k, n_ev] = n_col[k] - first[k]
                n_ev += 1
            else:
                status[line] = _BAD
                n_col[:] = first
        while buf[p] != _NL:
            p += 1
        p += 1
        line += 1
    return status[:line], event[:n_ev], weight[:n_ev], met[:n_ev], proc[:n_ev], counts[:, :n_ev], obj, n_col


def _parse_block(buf: np.ndarray) -> dict:
    """Parse complete lines (``buf`` ends with a newline) into flat columns and per-line status."""
    status, event, weight, met, proc, counts, obj, n_col = _scan(buf)
    hashes, first = np.unique(proc[:, 0], return_index=True)
    names = {int(h): buf[proc[i, 1]:proc[i, 2]].tobytes().decode(errors="replace") for h, i in zip(hashes, first)}
    return {"bad_lines": np.flatnonzero(status == _BAD), "n_lines": len(status), "n_events": len(event),
            "names": names, "process": proc[:, 0], "event": event, "weight": weight, "met": met,
            "counts": counts, "objects": [obj[k, :, :n_col[k]] for k in range(4)]}


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
    if not fields[1].strip():
        return "process ID is empty"
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
    """Chunks of whole lines as uint8 arrays, each ending in a newline. The file is read into one
    reused buffer (a block is parsed before the next is read); a line longer than the buffer grows it."""
    opener = gzip.open if path.endswith(".gz") else open
    buf, kept = bytearray(block_bytes), 0
    with opener(path, "rb") as f:
        while True:
            with memoryview(buf) as view:
                got = f.readinto(view[kept:])
            total = kept + got
            cut = buf.rfind(b"\n", 0, total) + 1 if got else total  # at the end: whatever is left
            if got and cut == 0:  # no newline in the whole buffer: a longer line
                buf = buf + bytes(len(buf))  # a new buffer: the caller may still hold a view of the old one
                kept = total
                continue
            if cut:
                block = np.frombuffer(buf, np.uint8, count=cut)
                yield block if block[-1] == _NL else np.append(block, np.uint8(_NL))
                del block
            buf[:total - cut] = buf[cut:total]
            kept = total - cut
            if not got:
                return


def _line_text(buf: np.ndarray, index: int) -> str:
    ends = np.flatnonzero(buf == _NL)
    start = ends[index - 1] + 1 if index else 0
    return buf[start:ends[index]].tobytes().decode(errors="replace")


def read_darkmachines(path: str, on_bad_line: str = "fail", block_bytes: int = _BLOCK_BYTES
                      ) -> tuple[ak.Array, dict]:
    """Read a challenge csv (optionally gzipped) into the event record (GeV) and notes on what was read.

    ``on_bad_line``: ``fail`` raises InputError naming the file, the line number and what is wrong;
    ``skip`` leaves malformed lines out and counts them in the notes (``bad_lines``, with the first
    line numbers in ``bad_line_numbers``).
    """
    if on_bad_line not in ON_BAD_LINE:
        raise ValueError(f"on_bad_line: one of {', '.join(ON_BAD_LINE)}, got {on_bad_line!r}")
    parts, bad_numbers, n_bad, first_line = [], [], 0, 1
    try:
        for buf in _blocks(path, block_bytes):
            part = _parse_block(buf)
            if len(part["bad_lines"]):
                i = int(part["bad_lines"][0])
                if on_bad_line == "fail":
                    raise InputError(f"{path}: line {first_line + i}: {_diagnose(_line_text(buf, i))}")
                n_bad += len(part["bad_lines"])
                bad_numbers += (first_line + part["bad_lines"][:20 - len(bad_numbers)]).tolist()
            parts.append(part)
            first_line += part["n_lines"]
    except OSError as e:
        raise InputError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
    events, names = _assemble(parts or [_parse_block(np.full(1, _NL, np.uint8))])
    notes = {"lines": first_line - 1, "bad_lines": n_bad, "bad_line_numbers": bad_numbers,
             "processes": {str(process_code(s)): s for s in names}}
    return events, notes


def _assemble(parts: list[dict]) -> tuple[ak.Array, list[str]]:
    """Per-block columns -> one awkward event record."""
    def joined(key, k=None, axis=0):  # one block (a small file): its arrays as they are
        arrays = [p[key] if k is None else p[key][k] for p in parts]
        return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=axis)

    cat = {k: joined(k, axis=-1) for k in ("process", "event", "weight", "counts")}
    met = joined("met")
    names = {h: name for p in parts for h, name in p["names"].items()}
    hashes = np.array(sorted(names), np.int64)
    codes = np.array([process_code(names[h]) for h in hashes], np.uint32)
    fields = {}
    for k, (coll, (extra_name, _)) in enumerate(_KINDS.items()):
        obj = joined("objects", k, axis=1)
        cols = {"pt": obj[0], "eta": obj[1], "phi": obj[2]}
        if extra_name:
            cols |= {"mass": obj[3], extra_name: obj[4].astype(np.int32)}
        fields[coll] = ak.unflatten(ak.zip(cols), cat["counts"][k])
    fields["MET"] = ak.zip({"pt": met[:, 0], "phi": met[:, 1]})
    fields["genWeight"] = cat["weight"]
    fields["event"] = cat["event"].astype(np.uint64)
    fields["DM"] = ak.zip({"processId": codes[np.searchsorted(hashes, cat["process"])]})
    return ak.Array(fields), [names[h] for h in hashes]


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
