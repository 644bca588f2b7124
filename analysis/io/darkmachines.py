"""Dark Machines challenge csv (arXiv:2105.14027) <-> the event record, both directions.

One event per line, fields separated by ``;``, an object's values by ``,``::

    event ID;process ID;event weight;MET;METphi;obj1,E1,pt1,eta1,phi1;obj2,E2,pt2,eta2,phi2;...

Object codes: ``j`` jet, ``b`` b-jet, ``e-``/``e+`` electron/positron, ``m-``/``m+`` muon/antimuon,
``g`` photon. Energies and momenta are in MeV in the files and in GeV in the event record.

Reading is one compiled pass (numba) over each 1 MB block of lines, appending to the record's
columns in place, with no Python work per line or object: token ends come from a 64-byte vector
compare, the four numbers of an object are checked and converted together by one LLVM vector routine
(exactly as Python's float() for up to 15 digits), and any line of another shape (blanks, exponents,
long numbers, errors) is read again byte by byte by the reference reader, which also names what is
wrong; ``SVJ_PLAIN=1`` reads every line with the reference reader. benchmarks/bench_csv.py compares it
with a per-line regular expression. Jets and b-jets become ``Jet`` (``btag`` 0/1), leptons
``Electron``/``Muon`` with ``charge``, photons ``Photon``; the process name is kept as ``DM_processId``
(CRC32 of the name, the same in every file) with the names in the reader's notes.
:func:`iter_darkmachines` gives the events in chunks (the skim's ``step_size``), so memory follows the
chunk and the block, not the file; :func:`read_darkmachines` is its one whole-file chunk.

Writing turns the tool's own (generated) events into the same format, so the whole challenge path can
run on generated data.
"""
from __future__ import annotations

import copy
import gzip
import os
import zlib
from collections.abc import Iterator

import awkward as ak
import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from llvmlite import ir
from numba.core import types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

from analysis.accelerated import plain
from analysis.io.nanoaod import InputError

CODES = ("j", "b", "e-", "e+", "m-", "m+", "g")
HEADER = ("event ID", "process ID", "event weight", "MET", "METphi")
MEV_PER_GEV = 1000.0
ON_BAD_LINE = ("fail", "skip")
# collection and per-code value of its extra field (Jet.btag, lepton charge); photons have none
_KINDS = {"Jet": ("btag", {"j": 0, "b": 1}), "Electron": ("charge", {"e-": -1, "e+": 1}),
          "Muon": ("charge", {"m-": -1, "m+": 1}), "Photon": (None, {"g": None})}
_SEMI, _COMMA, _NL = ord(";"), ord(","), ord("\n")
_BLOCK_BYTES = 1 << 20  # fits the caches: a block is parsed while its bytes are still there
_FRONT, _PAD = 16, 72  # readable bytes before a block and after its last newline (64-byte loads start up to one past it)


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


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
def _float(buf, p):
    """``[-]digits[.digits][(e|E)[+-]digits]`` at ``p`` -> (value, ok, delimiter, next position).

    Digits accumulate in a float64 (exact up to 15 significant digits, then within two ulps), the
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


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
def _name(buf, p, q):
    """The process name between ``p`` and its delimiter at ``q`` -> (FNV-1a hash, start, end, ok):
    blanks around it left out (the hash takes trailing blanks, as the names are read back from start/end)."""
    p = _skip_space(buf, p)
    h = np.uint64(14695981039346656037)
    for i in range(p, q):
        h = (h ^ np.uint64(buf[i])) * np.uint64(1099511628211)
    r = q
    while r > p and (buf[r - 1] == _SPACE or buf[r - 1] == _TAB):
        r -= 1
    return np.int64(h), p, r, buf[q] == _SEMI and r > p  # a non-empty name: every event takes >= 10 bytes


@numba.njit(cache=True, inline="always")
def _store(objs, kinematics, n_col, start, code, energy, pt, eta, phi):
    """One object appended to its collection's columns: eta, phi and btag/charge now; its energy,
    pt and eta (MeV, float64) kept by collection from ``start`` for :func:`_finish`, which adds pt
    and mass in GeV after the block."""
    k = _COLLECTION[code]
    obj, i = objs[k], n_col[k]
    obj[1, i] = eta
    obj[2, i] = phi
    obj[4, i] = _EXTRA[code]
    j = i - start[k]
    kinematics[k, 0, j], kinematics[k, 1, j], kinematics[k, 2, j] = energy, pt, eta
    n_col[k] = i + 1


@numba.njit(cache=True, inline="always")
def _finish(objs, kinematics, n_col, start):
    """pt and mass (GeV) of the block's objects from E, pt (MeV) and eta, m^2 = E^2 - pt^2 - pz^2, in
    a loop of its own: the chains of exp, divisions and square root then overlap between objects
    instead of holding up the parsing."""
    for k in range(4):
        obj = objs[k]
        for i in range(start[k], n_col[k]):
            j = i - start[k]
            energy, pt, eta = kinematics[k, 0, j], kinematics[k, 1, j], kinematics[k, 2, j]
            exp_eta = np.exp(eta)
            pz = 0.5 * pt * (exp_eta - 1.0 / exp_eta)  # pt sinh(eta), one exp instead of sinh
            obj[0, i] = pt / MEV_PER_GEV
            obj[3, i] = np.sqrt(max(energy * energy - pt * pt - pz * pz, 0.0)) / MEV_PER_GEV


@numba.njit(cache=True, inline="always")
def _line(buf, p, head, name, objs, kinematics, n_ev, n_col, start):
    """Any line that is not blank, token by token with blanks allowed (the reference reading, and the
    one that finds malformed lines) -> (ok, position of its newline or where it went wrong)."""
    ident, ok, delim, p = _integer(buf, p)
    ok = ok and delim == _SEMI
    q = p
    while buf[q] != _SEMI and buf[q] != _COMMA and buf[q] != _NL:
        q += 1
    name[0], name[1], name[2], ok_name = _name(buf, p, q)
    ok = ok and ok_name
    p = q + (buf[q] != _NL)
    w, ok_w, delim, p = _float(buf, p) if ok else (0.0, False, -1, p)
    m, ok_m, delim, p = _float(buf, p) if ok_w and delim == _SEMI else (0.0, False, -1, p)
    phi, ok, delim, p = _float(buf, p) if ok_m and delim == _SEMI else (0.0, False, -1, p)
    ok = ok and delim != _COMMA
    _header(head, n_ev, ident, w, m, phi)
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
            _store(objs, kinematics, n_col, start, code, energy, pt, eta, phi)
    return ok, p


@numba.njit(cache=True, inline="always")
def _header(head, n_ev, ident, weight, met, met_phi):
    """An event's header fields (MET in GeV) into row ``n_ev`` of the header columns."""
    head[0][n_ev] = ident
    head[1][n_ev] = weight
    head[2][0, n_ev] = met / MEV_PER_GEV
    head[2][1, n_ev] = met_phi


def _data_at(context, builder, array_type, array, p, width):
    """LLVM IR: ``width`` bytes of a uint8 array from index ``p`` as one vector, an unaligned and
    unchecked load (the reader's blocks have ``_FRONT`` readable bytes before them and ``_PAD`` after
    their last newline)."""
    data = context.make_array(array_type)(context, builder, array).data
    vector = ir.VectorType(ir.IntType(8), width)
    return builder.load(builder.bitcast(builder.gep(data, [p]), vector.as_pointer()), align=1), vector


@intrinsic
def _delimiters64(typingctx, buf, p):
    """Bit i set where ``buf[p + i]`` (i < 64) is ``,``, ``;`` or a newline: three vector compares
    (one AVX-512 instruction each, or what the CPU has)."""
    def codegen(context, builder, sig, args):
        chunk, vector = _data_at(context, builder, sig.args[0], args[0], args[1], 64)
        found = [builder.icmp_unsigned("==", chunk, ir.Constant(vector, [c] * 64)) for c in (_COMMA, _SEMI, _NL)]
        return builder.bitcast(builder.or_(builder.or_(found[0], found[1]), found[2]), ir.IntType(64))
    return types.uint64(buf, p), codegen


def _declare(module, name, result, arguments):
    """An LLVM intrinsic on vectors (llvmlite's declare_intrinsic names scalar ones only)."""
    function = module.globals.get(name)
    return function if function is not None else ir.Function(module, ir.FunctionType(result, arguments), name=name)


@intrinsic
def _numbers4(typingctx, buf, s0, e0, s1, e1, s2, e2, s3, e3):
    """Four tokens ``buf[s_i:e_i]`` read at once as numbers of the usual shape, ``[-]digits[.digits]``
    with at most 15 digits -> (their four values, ok: all four have that shape; any other text is
    left to :func:`_float`). As :func:`_float` computes them, and as Python does: the digits make
    an exact integer mantissa (< 2^53), divided once by an exact power of ten.

    LLVM vector code, one 16-byte field per token (the 16 bytes before its end; the reader's
    blocks start ``_FRONT`` bytes into their buffer): compares give the token's digits, its '-'
    and its '.', which checks the shape; the digits before the '.' move one byte on over it, those
    before the number are cleared, and multiply-adds of neighbours, pairs, quads and octets give
    the mantissas, no branch and no loop over characters."""
    def codegen(context, builder, sig, args):
        i1, i8, i16, i32, i64, f64 = (ir.IntType(1), ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64),
                                      ir.DoubleType())
        v = lambda t, n: ir.VectorType(t, n)
        const = lambda t, n, vals: ir.Constant(v(t, n), list(vals))
        mask = lambda idx: ir.Constant(v(i32, len(idx)), list(idx))
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        starts, ends = args[1::2], args[2::2]
        # the 16 bytes before each token's end, side by side: field i is lanes 16i..16i+15
        chunks = [builder.load(builder.bitcast(builder.gep(data, [builder.sub(e, ir.Constant(i64, 16))]),
                                               v(i8, 16).as_pointer()), align=1) for e in ends]
        pair = [builder.shuffle_vector(chunks[0], chunks[1], mask(range(32))),
                builder.shuffle_vector(chunks[2], chunks[3], mask(range(32)))]
        text = builder.shuffle_vector(pair[0], pair[1], mask(range(64)))
        lane = const(i8, 64, [k % 16 for k in range(64)])

        def per_field(values4):  # <4 x i8> -> each value over its field's 16 lanes
            undefined = ir.Constant(v(i8, 4), ir.Undefined)
            return builder.shuffle_vector(values4, undefined, mask([k // 16 for k in range(64)]))

        def fields(bits64):  # <64 x i1> -> <4 x i16>, one bit mask per field, through a general register
            # (an empty asm keeps LLVM from folding it into a direct bitcast, which goes through memory, slowly)
            word = builder.asm(ir.FunctionType(i64, [i64]), "", "=r,0", [builder.bitcast(bits64, i64)], False)
            return builder.bitcast(word, v(i16, 4))

        length = ir.Constant(v(i8, 4), ir.Undefined)
        for k, (s, e) in enumerate(zip(starts, ends)):
            n = builder.sub(e, s)
            n = builder.select(builder.icmp_unsigned("<", n, ir.Constant(i64, 17)), n, ir.Constant(i64, 17))
            length = builder.insert_element(length, builder.trunc(n, i8), ir.Constant(i32, k))
        begin = builder.sub(const(i8, 4, [16] * 4), length)  # first lane of each token
        begin64 = per_field(begin)
        inside = builder.icmp_signed(">=", lane, begin64)
        first = builder.icmp_signed("==", lane, begin64)
        digits = builder.sub(text, const(i8, 64, [48] * 64))
        is_digit = builder.icmp_unsigned("<", digits, const(i8, 64, [10] * 64))
        is_dot = builder.icmp_unsigned("==", text, const(i8, 64, [_DOT] * 64))
        sign = builder.and_(first, builder.icmp_unsigned("==", text, const(i8, 64, [_MINUS] * 64)))
        body = builder.and_(inside, builder.not_(sign))
        other = builder.and_(body, builder.not_(builder.or_(is_digit, is_dot)))
        dots = fields(builder.and_(body, is_dot))
        zero16 = ir.Constant(v(i16, 4), [0] * 4)
        negative = builder.icmp_unsigned("!=", fields(sign), zero16)
        n_dots = builder.call(_declare(builder.module, "llvm.ctpop.v4i16", v(i16, 4), [v(i16, 4)]), [dots])
        dot = builder.call(_declare(builder.module, "llvm.cttz.v4i16", v(i16, 4), [v(i16, 4), i1]),
                           [dots, ir.Constant(i1, 0)])
        n_dots, dot = builder.trunc(n_dots, v(i8, 4)), builder.trunc(dot, v(i8, 4))
        has_dot = builder.icmp_unsigned("!=", n_dots, ir.Constant(v(i8, 4), [0] * 4))
        n_digits = builder.sub(builder.sub(length, builder.zext(negative, v(i8, 4))), n_dots)
        checks = [builder.icmp_unsigned("<=", length, const(i8, 4, [16] * 4)),
                  builder.icmp_unsigned("!=", n_digits, const(i8, 4, [0] * 4)),
                  builder.icmp_unsigned("<=", n_digits, const(i8, 4, [15] * 4)),
                  builder.icmp_unsigned("==", fields(other), zero16),
                  builder.icmp_unsigned("<=", n_dots, const(i8, 4, [1] * 4)),
                  builder.or_(builder.not_(has_dot), builder.and_(
                      builder.icmp_unsigned("!=", dot, const(i8, 4, [15] * 4)),
                      builder.icmp_unsigned("!=", dot, builder.add(begin, builder.zext(negative, v(i8, 4))))))]
        ok = checks[0]
        for c in checks[1:]:
            ok = builder.and_(ok, c)
        ok = builder.icmp_unsigned("==", builder.bitcast(ok, ir.IntType(4)), ir.Constant(ir.IntType(4), 15))
        # digits without the dot, at the end of each field, zeros before: the bytes up to the dot
        # take the value of the byte before them, then everything before the digits is cleared
        before = builder.shuffle_vector(digits, const(i8, 64, [0] * 64),
                                        mask([64 if k % 16 == 0 else k - 1 for k in range(64)]))
        up_to_dot = builder.select(has_dot, builder.add(dot, const(i8, 4, [1] * 4)), const(i8, 4, [0] * 4))
        shifted = builder.icmp_unsigned("<", lane, per_field(up_to_dot))
        kept = builder.icmp_signed(">=", lane, per_field(builder.sub(const(i8, 4, [16] * 4), n_digits)))
        digits = builder.select(kept, builder.select(shifted, before, digits), const(i8, 64, [0] * 64))
        # 16 digits per field -> one integer: neighbours, pairs, quads, octets (first lane most significant)
        values, width = digits, 64
        for t, scale in ((i16, 10), (i16, 100), (i32, 10000), (i64, 100000000)):
            even = builder.zext(builder.shuffle_vector(values, values, mask(range(0, width, 2))), v(t, width // 2))
            odd = builder.zext(builder.shuffle_vector(values, values, mask(range(1, width, 2))), v(t, width // 2))
            values = builder.add(builder.mul(even, ir.Constant(v(t, width // 2), [scale] * (width // 2))), odd)
            width //= 2
        mantissa = builder.sitofp(values, v(f64, 4))
        table = builder.module.globals.get("dm_pow10")
        if table is None:
            table = ir.GlobalVariable(builder.module, ir.ArrayType(f64, 16), name="dm_pow10")
            table.initializer = ir.Constant(ir.ArrayType(f64, 16), [float(x) for x in _POW10[:16]])
            table.global_constant, table.linkage = True, "internal"
        n_frac = builder.select(has_dot, builder.sub(const(i8, 4, [15] * 4), dot), const(i8, 4, [0] * 4))
        scale = ir.Constant(v(f64, 4), ir.Undefined)
        for k in range(4):
            index = builder.zext(builder.extract_element(n_frac, ir.Constant(i32, k)), i64)
            power = builder.load(builder.gep(table, [ir.Constant(i64, 0), index]))
            scale = builder.insert_element(scale, power, ir.Constant(i32, k))
        value = builder.fdiv(mantissa, scale)
        value = builder.select(negative, builder.fneg(value), value)
        out = [builder.extract_element(value, ir.Constant(i32, k)) for k in range(4)] + [ok]
        return context.make_tuple(builder, sig.return_type, out)
    return types.Tuple((types.float64,) * 4 + (types.boolean,))(buf, s0, e0, s1, e1, s2, e2, s3, e3), codegen


_U = np.uint64
# first byte of an object code -> its index in CODES (the '-' one for e/m) or -1; 1 where a sign follows
_CODE_START = np.full(256, -1, np.int64)
_CODE_START[[ord(c) for c in "jbemg"]] = [0, 1, 2, 4, 6]
_CODE_SIGNED = np.zeros(256, np.int64)
_CODE_SIGNED[[ord("e"), ord("m")]] = 1


@numba.njit(cache=True, inline="always")
def _next_delimiter(buf, base, bits):
    """The next delimiter from the 64-byte window at ``base`` (``bits``: its delimiters not yet
    taken), moving the window on when it has none -> (position, base, bits)."""
    while bits == 0:
        base += 64
        bits = _delimiters64(buf, base)
    return base + np.int64(trailing_zeros(bits)), base, bits & (bits - _U(1))


@numba.njit(cache=True, inline="always")
def _line_fast(buf, p, base, bits, head, name, objs, kinematics, n_ev, n_col, start):
    """A line as the writer and the challenge write it (no blanks inside numbers, numbers that
    :func:`_numbers4` takes): token ends come from the delimiter bit mask, so the numbers of a line
    are converted independently of each other, not one character after the other. -> (ok,
    position of the newline, base, bits); not ok: the line is read again by :func:`_line`. It
    stops at the first newline, so it never looks past the block."""
    d, base, bits = _next_delimiter(buf, base, bits)
    ident, ok, delim, q = _integer(buf, p)
    if not (ok and delim == _SEMI and q == d + 1):
        return False, d, base, bits
    p = d + 1
    d, base, bits = _next_delimiter(buf, base, bits)
    name[0], name[1], name[2], ok = _name(buf, p, d)
    if not ok:
        return False, d, base, bits
    ends = np.empty(4, np.int64)
    for j in range(3):  # weight, MET, METphi
        ends[j], base, bits = _next_delimiter(buf, base, bits)
        delim = buf[_U(ends[j])]
        if not (delim == _SEMI or (j == 2 and delim == _NL)):
            return False, ends[j], base, bits
    w, m, phi, _, ok = _numbers4(buf, d + 1, ends[0], ends[0] + 1, ends[1], ends[1] + 1, ends[2], ends[1] + 1, ends[2])
    d = ends[2]
    if not ok:
        return False, d, base, bits
    _header(head, n_ev, ident, w, m, phi)
    while delim == _SEMI:
        p = d + 1
        d, base, bits = _next_delimiter(buf, base, bits)
        c, second = buf[_U(p)], buf[_U(p + 1)]
        if d == p and c == _NL:  # a ';' ending the line
            break
        signed = _CODE_SIGNED[c]
        code = _CODE_START[c] + signed * (second == _PLUS)
        if not (code >= 0 and d == p + 1 + signed and buf[_U(d)] == _COMMA
                and (signed == 0 or second == _MINUS or second == _PLUS)):
            return False, d, base, bits
        for j in range(4):  # E, pt, eta, phi
            ends[j], base, bits = _next_delimiter(buf, base, bits)
            delim = buf[_U(ends[j])]
            if delim != _COMMA and j < 3:
                return False, ends[j], base, bits
        energy, pt, eta, phi, ok = _numbers4(buf, d + 1, ends[0], ends[0] + 1, ends[1], ends[1] + 1, ends[2],
                                             ends[2] + 1, ends[3])
        d = ends[3]
        if not (ok and delim != _COMMA):
            return False, d, base, bits
        _store(objs, kinematics, n_col, start, code, energy, pt, eta, phi)
    return True, d, base, bits


@numba.njit(cache=True, error_model="numpy")
def _scan(buf, head, process, names, offsets, objs, n_ev, n_col, fast):
    """One compiled pass over whole lines (``buf`` ends with a newline and has ``_FRONT`` readable
    bytes before it, ``_PAD`` after): each good event appended at ``n_ev`` (its header to the
    ``head`` columns, its process name's hash to ``process``, where each of its collections ends to
    ``offsets``), its objects appended to their collection's columns in ``objs`` (pt, eta, phi,
    mass, btag or charge in GeV) at ``n_col`` (updated); the caller makes room for what the bytes
    could hold (an event or an object takes at least 10 bytes). A malformed line writes nothing.
    -> (status of each line, the new number of events, the process names met: hash, start, end
    (one row per change of name)). ``fast`` False reads every line with the byte-by-byte reference reader
    (``SVJ_PLAIN=1``)."""
    n = len(buf)
    status = np.empty(n, np.int8)
    first, start = np.empty(4, np.int64), n_col.copy()
    kinematics = np.empty((4, 3, n // 10 + 1))
    p, line, n_names = 0, 0, 0
    base, bits = 0, _delimiters64(buf, 0)
    while p < n:
        name = names[n_names]
        for k in range(4):
            first[k] = n_col[k]
        ok, q = False, p
        if fast:
            ok, q, base, bits = _line_fast(buf, p, base, bits, head, name, objs, kinematics, n_ev, n_col, start)
        status[line] = 0
        if not ok:
            for k in range(4):
                n_col[k] = first[k]
            q = _skip_space(buf, p)
            if buf[q] == _NL:
                status[line] = _BLANK
            else:
                ok, q = _line(buf, p, head, name, objs, kinematics, n_ev, n_col, start)
                status[line] = 0 if ok else _BAD
            while buf[q] != _NL:
                q += 1
            if fast:
                base, bits = q + 1, _delimiters64(buf, q + 1)  # the window starts again after this line
        if ok:
            process[n_ev] = name[0]
            n_names += n_names == 0 or name[0] != names[n_names - 1, 0]
            n_ev += 1
            for k in range(4):
                offsets[k, n_ev] = n_col[k]
        else:
            for k in range(4):
                n_col[k] = first[k]
        p = q + 1
        line += 1
    _finish(objs, kinematics, n_col, start)
    return status[:line], n_ev, names[:n_names]


class _Columns:
    """The event record's flat columns, filled block by block by :func:`_scan` and grown (doubling)
    when a block could hold more than their free room, so events are appended in place: no
    per-block arrays to join at the end. :meth:`take` hands the first events on as a chunk."""

    def __init__(self, events: int, objects: int):
        self.n_ev, self.n_col = 0, np.zeros(4, np.int64)
        self.event, self.weight, self.process = np.empty(events, np.int64), np.empty(events), np.empty(events, np.int64)
        self.met = np.empty((2, events), np.float32)
        self.offsets = np.zeros((4, events + 1), np.int64)
        self.objs = tuple(np.empty((5, objects), np.float32) for _ in range(4))
        self.names: dict[int, str] = {}

    def parse(self, buf: np.ndarray) -> np.ndarray:
        """Append the events of one block; -> the block's line status."""
        most = len(buf) // 10 + 1
        if self.n_ev + most > len(self.event):
            size = 2 * (self.n_ev + most)
            for key in ("event", "weight", "process"):
                setattr(self, key, _grown(getattr(self, key), size, self.n_ev))
            self.met = _grown(self.met, size, self.n_ev)
            self.offsets = _grown(self.offsets, size + 1, self.n_ev + 1)
        self.objs = tuple(obj if n + most <= obj.shape[1] else _grown(obj, 2 * (n + most), n)
                          for obj, n in zip(self.objs, self.n_col))
        status, self.n_ev, names = _scan(buf, (self.event, self.weight, self.met), self.process,
                                         np.empty((most, 3), np.int64), self.offsets, self.objs, self.n_ev, self.n_col,
                                         not plain())
        for h, start, end in names:
            self.names.setdefault(int(h), buf[start:end].tobytes().decode(errors="replace"))
        return status

    def take(self, n: int) -> ak.Array:
        """The first ``n`` events as an event record of copies, the rest moved to the front of the
        columns to be filled on. All events: the record takes the columns' own arrays (read no more)."""
        if n == self.n_ev:
            return _assemble(self)
        chunk, ends, rest = copy.copy(self), self.offsets[:, n].copy(), self.n_ev - n
        chunk.n_ev, chunk.n_col = n, ends
        for key in ("event", "weight", "process", "met"):
            array = getattr(self, key)
            setattr(chunk, key, array[..., :n].copy())
            array[..., :rest] = array[..., n:self.n_ev]
        chunk.offsets = self.offsets[:, :n + 1].copy()
        self.offsets[:, :rest + 1] = self.offsets[:, n:self.n_ev + 1] - ends[:, None]
        chunk.objs = tuple(obj[:, :end].copy() for obj, end in zip(self.objs, ends))
        for obj, end, used in zip(self.objs, ends, self.n_col):
            obj[:, :used - end] = obj[:, end:used]
        self.n_ev, self.n_col = rest, self.n_col - ends
        return _assemble(chunk)


def _grown(array: np.ndarray, size: int, used: int) -> np.ndarray:
    """A copy of ``array`` with room for ``size`` along its last axis, the first ``used`` kept."""
    out = np.empty(array.shape[:-1] + (size,), array.dtype)
    out[..., :used] = array[..., :used]
    return out


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
    """Chunks of whole lines as uint8 arrays, each ending in a newline, with ``_FRONT`` readable
    bytes before and ``_PAD`` after it in memory (read by the vector loads of :func:`_scan`). The
    file is read into one reused buffer (a block is parsed before the next is read); a line longer
    than the buffer grows it."""
    opener = gzip.open if path.endswith(".gz") else open
    buf, kept = bytearray(_FRONT + block_bytes + _PAD), 0
    with opener(path, "rb") as f:
        while True:
            with memoryview(buf) as view:
                got = f.readinto(view[_FRONT + kept:len(buf) - _PAD])
            total = kept + got
            cut = buf.rfind(b"\n", _FRONT, _FRONT + total) + 1 - _FRONT if got else total  # at the end: what is left
            if got and cut == -_FRONT:  # no newline in the whole buffer: a longer line
                buf = buf + bytes(len(buf))  # a new buffer: the caller may still hold a view of the old one
                kept = total
                continue
            if cut:
                if buf[_FRONT + cut - 1] != _NL:  # the last line without its newline: one of the padding bytes
                    buf[_FRONT + cut] = _NL
                    cut += 1
                block = np.frombuffer(buf, np.uint8, count=cut, offset=_FRONT)
                yield block
                del block
            if not got:
                return
            buf[_FRONT:_FRONT + total - cut] = buf[_FRONT + cut:_FRONT + total]
            kept = total - cut


def _line_text(buf: np.ndarray, index: int) -> str:
    ends = np.flatnonzero(buf == _NL)
    start = ends[index - 1] + 1 if index else 0
    return buf[start:ends[index]].tobytes().decode(errors="replace")


def iter_darkmachines(path: str, step_size: int | None = None, on_bad_line: str = "fail",
                      block_bytes: int = _BLOCK_BYTES) -> Iterator[tuple[ak.Array, dict]]:
    """Read a challenge csv (optionally gzipped) in chunks of ``step_size`` events (None: the whole file
    as one chunk): (event record in GeV, notes on the lines read so far; the last chunk's cover the file).

    Blocks of lines are parsed into columns that keep at most a chunk and one block's events: memory
    follows the chunk, not the file. Chunks are cut by events, not lines, so they are the same whatever
    the block size; a file without events gives one empty chunk.

    ``on_bad_line``: ``fail`` raises InputError naming the file, the line number (counted from the
    file's start) and what is wrong, when its block is read (the chunks before it are already given);
    ``skip`` leaves malformed lines out and counts them in the notes (``bad_lines``, with the first
    line numbers in ``bad_line_numbers``).
    """
    if on_bad_line not in ON_BAD_LINE:
        raise ValueError(f"on_bad_line: one of {', '.join(ON_BAD_LINE)}, got {on_bad_line!r}")
    step = max(int(step_size), 1) if step_size else None
    size = os.path.getsize(path) if os.path.isfile(path) and not path.endswith(".gz") else block_bytes
    room = size // 64 + 1  # the usual file's events; grown if it holds more
    if step:
        room = min(room, step + block_bytes // 10 + 1)  # a chunk and what one block can add
    columns = _Columns(room, 2 * room)
    bad_numbers, n_bad, first_line = [], 0, 1

    def notes() -> dict:
        names = [columns.names[h] for h in sorted(columns.names)]
        return {"lines": first_line - 1, "bad_lines": n_bad, "bad_line_numbers": list(bad_numbers),
                "processes": {str(process_code(name)): name for name in names}}

    try:
        for buf in _blocks(path, block_bytes):
            status = columns.parse(buf)
            bad = np.flatnonzero(status == _BAD)
            if len(bad):
                if on_bad_line == "fail":
                    raise InputError(f"{path}: line {first_line + bad[0]}: {_diagnose(_line_text(buf, int(bad[0])))}")
                n_bad += len(bad)
                bad_numbers += (first_line + bad[:20 - len(bad_numbers)]).tolist()
            first_line += len(status)
            while step and columns.n_ev > step:  # a full chunk, and at least one event after it
                yield columns.take(step), notes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
    yield columns.take(columns.n_ev), notes()


def read_darkmachines(path: str, on_bad_line: str = "fail", block_bytes: int = _BLOCK_BYTES
                      ) -> tuple[ak.Array, dict]:
    """The whole file as one event record (GeV) and notes on what was read (see :func:`iter_darkmachines`)."""
    return next(iter_darkmachines(path, None, on_bad_line, block_bytes))


def _assemble(columns: _Columns) -> ak.Array:
    """The filled columns -> one awkward event record (the arrays are used as they are, not copied)."""
    n = columns.n_ev
    hashes = np.array(sorted(columns.names), np.int64)
    codes = np.array([process_code(columns.names[h]) for h in hashes], np.uint32)
    fields = {}
    for k, (coll, (extra_name, _)) in enumerate(_KINDS.items()):
        obj = columns.objs[k][:, :columns.n_col[k]]
        cols = {"pt": obj[0], "eta": obj[1], "phi": obj[2]}
        if extra_name:
            cols |= {"mass": obj[3], extra_name: obj[4].astype(np.int32)}
        content = ak.contents.RecordArray([ak.contents.NumpyArray(c) for c in cols.values()], list(cols))
        fields[coll] = ak.contents.ListOffsetArray(ak.index.Index64(columns.offsets[k, :n + 1]), content)
    fields["MET"] = ak.zip({"pt": columns.met[0, :n], "phi": columns.met[1, :n]}, highlevel=False)
    fields["genWeight"] = ak.contents.NumpyArray(columns.weight[:n])
    fields["event"] = ak.contents.NumpyArray(columns.event[:n].view(np.uint64))
    if len(codes) > 1:
        process = codes[np.searchsorted(hashes, columns.process[:n])]
    else:
        process = np.full(n, codes[0] if n else 0, np.uint32)
    fields["DM"] = ak.zip({"processId": process}, highlevel=False)
    return ak.Array(ak.contents.RecordArray(list(fields.values()), list(fields), length=n))


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
