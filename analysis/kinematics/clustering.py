"""Jet clustering, compiled (numba) and looped over all events in one call: AK8 "FatJet" (with
constituents and soft-drop mass) and AK4 "Jet".

Input is one jagged record array ``[event][particle]`` with at least ``px, py, pz, E`` (the visible
particles in acceptance). Jets come back pT-sorted and selected in pT and |eta|, as records
``pt, eta, phi, mass, px, py, pz, E``.

The clustering is FastJet's tiled nearest-neighbour algorithm (``N2Tiled``, Cacciari and Salam,
hep-ph/0512210) for the generalised kT family with E-scheme recombination, FastJet's rapidity, phi and
distance formulas and FastJet's history conventions, so jets are FastJet's to the last bit (the tests
compare event by event); constituents are listed by index, as FastJet's awkward interface does. The
minimum d_iJ comes from a tournament tree instead of a scan, and each pseudojet is listed under its
nearest neighbour, so a merge visits only the new jet's neighbourhood and the few that had a merged jet
as their NN (FastJet rescans three neighbourhoods). One compiled pass covers a batch of events, without
per-event ClusterSequence objects or awkward round trips; soft drop reclusters every jet with C/A in the same
compiled code (timings against FastJet and fastjet-contrib: benchmarks/bench_generation.py). With SVJ_PLAIN=1
FastJet's own clustering and fastjet-contrib's SoftDrop run instead (clustering_plain.py), to read or debug.
"""
from __future__ import annotations

import math

import awkward as ak
import numba
import numpy as np

from analysis.accelerated import plain
from analysis.kinematics.vectors import polar

_TWOPI = 2.0 * math.pi
_MAX_RAP = 1e5  # FastJet's rapidity of a particle along the beam
_RAP_TILE_LIMIT = 10.0  # tiles cover |y| < this; jets beyond sit in the edge tiles (a wider search, still exact)
# Soft drop reclusters each jet with C/A in two passes: first with this radius (tiled, only close pairs;
# 0.1 is FastJet's smallest tile and was the fastest of 0.05-0.5), then the few pseudojets left (all
# pairwise further apart) with no radius. C/A merges pairs in order of distance whatever its radius, so
# the tree is that of one C/A clustering with R = infinity.
_CA_FIRST_PASS_R = 0.1
_CA_NO_RADIUS = 1000.0  # fastjet.JetDefinition.max_allowable_R
_TILE_SPAN = 1  # tiles are R / _TILE_SPAN wide, a NN within R is at most this many tiles away (2, 3: slower)


@numba.njit(cache=True, inline="always")
def _set_rap_phi(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, rap: np.ndarray,
                 phi: np.ndarray, kt2: np.ndarray, i: int) -> None:
    """FastJet's PseudoJet::_set_rap_phi: phi in [0, 2 pi), rapidity with m^2 clipped at 0."""
    k = px[i] * px[i] + py[i] * py[i]
    f = 0.0 if k == 0.0 else math.atan2(py[i], px[i])
    if f < 0.0:
        f += _TWOPI
    if f >= _TWOPI:
        f -= _TWOPI
    if e[i] == abs(pz[i]) and k == 0.0:
        y = _MAX_RAP + abs(pz[i])
        if pz[i] < 0.0:
            y = -y
    else:
        m2 = max(0.0, (e[i] + pz[i]) * (e[i] - pz[i]) - k)
        e_plus_pz = e[i] + abs(pz[i])
        y = 0.5 * math.log((k + m2) / (e_plus_pz * e_plus_pz))
        if pz[i] > 0.0:
            y = -y
    rap[i], phi[i], kt2[i] = y, f, k


@numba.njit(cache=True, inline="always")
def _dist2(rap: np.ndarray, phi: np.ndarray, i: int, j: int) -> float:
    """FastJet's tiled-clustering distance (_bj_dist)."""
    dphi = math.pi - abs(math.pi - abs(phi[i] - phi[j]))
    drap = rap[i] - rap[j]
    return dphi * dphi + drap * drap


@numba.njit(cache=True, inline="always")
def _tile(rap: float, phi: float, rap_min: float, size: float, n_rap: int, n_phi: int) -> int:
    ir = min(max(int(math.floor((rap - rap_min) / size)), 0), n_rap - 1)
    ip = min(int(phi * n_phi / _TWOPI), n_phi - 1)
    return ir * n_phi + ip


@numba.njit(cache=True, inline="always")
def _tile_push(a: int, t: int, tile_of: np.ndarray, head: np.ndarray, nxt: np.ndarray, prv: np.ndarray) -> None:
    """Put pseudojet a at the head of tile t's doubly linked list."""
    tile_of[a] = t
    nxt[a] = head[t]
    if head[t] >= 0:
        prv[head[t]] = a
    prv[a] = -1
    head[t] = a


@numba.njit(cache=True, inline="always")
def _momentum_weight(kt2: float, antikt: bool) -> float:
    """The d_ij momentum factor: 1/kt^2 for anti-kT (capped for kt -> 0), 1 for C/A."""
    return (1.0 / kt2 if kt2 > 1e-300 else 1e300) if antikt else 1.0


@numba.njit(cache=True, inline="always")
def _neighbour_tiles(t: int, n_rap: int, n_phi: int, out: np.ndarray) -> int:
    """The tile and the tiles up to _TILE_SPAN away in rapidity and phi (phi wrapping around;
    n_phi >= 2 _TILE_SPAN + 1 so none repeats)."""
    ir, ip = t // n_phi, t % n_phi
    n = 0
    for jr in range(max(ir - _TILE_SPAN, 0), min(ir + _TILE_SPAN + 1, n_rap)):
        for dp in range(-_TILE_SPAN, _TILE_SPAN + 1):
            out[n] = jr * n_phi + (ip + dp + n_phi) % n_phi
            n += 1
    return n


@numba.njit(cache=True, inline="always")
def _tile_bound(y: float, f: float, home: int, t: int, rap_min: float, size: float, n_phi: int) -> float:
    """A lower bound on the squared distance from (y, f), which sits in tile ``home``, to any pseudojet
    in tile ``t`` (edge tiles reach past the tiled rapidity range: still a bound)."""
    ir, ip, hr, hp = t // n_phi, t % n_phi, home // n_phi, home % n_phi
    dy = 0.0
    if ir > hr:
        dy = max(rap_min + ir * size - y, 0.0)
    elif ir < hr:
        dy = max(y - (rap_min + (ir + 1) * size), 0.0)
    df = 0.0
    if ip != hp:  # the nearer of the tile's two phi edges, either way round
        size_phi = _TWOPI / n_phi
        ahead = (ip - hp + n_phi) % n_phi
        df = max(min((hp + ahead) * size_phi - f, f - (hp + ahead + 1) * size_phi + _TWOPI), 0.0)
    return dy * dy + df * df


@numba.njit(cache=True, inline="always")
def _find_nn(a: int, rap: np.ndarray, phi: np.ndarray, tile_of: np.ndarray, head: np.ndarray, nxt: np.ndarray,
             r2: float, rap_min: float, size: float, n_rap: int, n_phi: int, scratch: np.ndarray
             ) -> tuple[int, float]:
    """Geometric nearest neighbour of ``a`` closer than r and its squared distance (-1, r^2: none);
    own tile first, neighbour tiles only where they can hold a nearer one."""
    best, best_j = r2, -1
    home = tile_of[a]
    c = head[home]
    while c >= 0:
        if c != a:
            d = _dist2(rap, phi, a, c)
            if d < best:
                best, best_j = d, c
        c = nxt[c]
    for q in range(_neighbour_tiles(home, n_rap, n_phi, scratch)):
        t = scratch[q]
        if t == home or _tile_bound(rap[a], phi[a], home, t, rap_min, size, n_phi) >= best:
            continue
        c = head[t]
        while c >= 0:
            d = _dist2(rap, phi, a, c)
            if d < best:
                best, best_j = d, c
            c = nxt[c]
    return best_j, best


@numba.njit(cache=True, inline="always")
def _set_nn(c: int, j: int, d: float, nn: np.ndarray, nn_dist: np.ndarray, rev_head: np.ndarray,
            rev_next: np.ndarray, rev_prev: np.ndarray) -> None:
    """Make j (or -1: none) the NN of c at squared distance d, keeping the lists of who has whom as NN
    (each pseudojet is in the list of its NN)."""
    old = nn[c]
    if old != j:
        if old >= 0:
            if rev_prev[c] >= 0:
                rev_next[rev_prev[c]] = rev_next[c]
            else:
                rev_head[old] = rev_next[c]
            if rev_next[c] >= 0:
                rev_prev[rev_next[c]] = rev_prev[c]
        if j >= 0:
            rev_next[c], rev_prev[c] = rev_head[j], -1
            if rev_head[j] >= 0:
                rev_prev[rev_head[j]] = c
            rev_head[j] = c
        nn[c] = j
    nn_dist[c] = d


@numba.njit(cache=True, inline="always")
def _dij(a: int, nn: np.ndarray, nn_dist: np.ndarray, mom: np.ndarray) -> float:
    """FastJet's _bj_diJ: NN distance times the smaller momentum factor (a beam step without a NN)."""
    m = mom[a]
    if nn[a] >= 0 and mom[nn[a]] < m:
        m = mom[nn[a]]
    return nn_dist[a] * m


@numba.njit(cache=True, inline="always")
def _tree_set(tree_val: np.ndarray, tree_arg: np.ndarray, leaves: int, i: int, v: float) -> None:
    """Set slot i of a tournament tree (each node holds the minimum of its two children and where it
    is; the root, node 1, the overall minimum) and update its ancestors: O(log n)."""
    j = leaves + i
    tree_val[j] = v
    j >>= 1
    while j >= 1:
        left, right = 2 * j, 2 * j + 1
        if tree_val[right] < tree_val[left]:
            tree_val[j], tree_arg[j] = tree_val[right], tree_arg[right]
        else:
            tree_val[j], tree_arg[j] = tree_val[left], tree_arg[left]
        j >>= 1


@numba.njit(cache=True, nogil=True)
def _cluster(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, rap: np.ndarray, phi: np.ndarray,
             kt2: np.ndarray, n_jets: int, ids: np.ndarray, r: float, antikt: bool, stop_at_beam: bool,
             parent1: np.ndarray, parent2: np.ndarray, final: np.ndarray) -> tuple[int, np.ndarray]:
    """Cluster the pseudojets ``ids`` of a store (four-momenta, rap/phi/kt2 set; the first ``n_jets``
    slots used) with anti-kT (``antikt``) or C/A of radius ``r``; merged jets are appended to the store
    with their parents, jets that go to the beam are flagged in ``final``.

    With ``stop_at_beam`` it stops at the first beam step instead (C/A: every pair left is >= r apart)
    and returns the pseudojets left. Returns (slots used, pseudojets left).
    """
    cap = len(px)
    r2 = r * r
    size = max(0.1, r) / _TILE_SPAN
    n_phi = max(2 * _TILE_SPAN + 1, int(math.floor(_TWOPI / size)))
    rap_min, rap_max = np.inf, -np.inf
    for a in ids:
        rap_min, rap_max = min(rap_min, rap[a]), max(rap_max, rap[a])
    rap_min = max(rap_min, -_RAP_TILE_LIMIT)
    rap_max = min(max(rap_max, rap_min), _RAP_TILE_LIMIT)
    n_rap = int(math.floor((rap_max - rap_min) / size)) + 1
    head = np.full(n_rap * n_phi, -1, dtype=np.int64)
    tile_of = np.empty(cap, dtype=np.int64)
    nxt = np.full(cap, -1, dtype=np.int64)
    prv = np.full(cap, -1, dtype=np.int64)
    nn = np.full(cap, -1, dtype=np.int64)
    nn_dist = np.full(cap, r2)
    rev_head = np.full(cap, -1, dtype=np.int64)  # who has j as NN: a list per j
    rev_next = np.full(cap, -1, dtype=np.int64)
    rev_prev = np.full(cap, -1, dtype=np.int64)
    mom = np.empty(cap)
    alive = np.zeros(cap, dtype=np.bool_)
    # d_iJ of every slot in a tournament tree (inf: not active): the minimum in O(1), updates in O(log n);
    # a scan over the active jets each step made clustering O(n^2)
    leaves = 1
    while leaves < cap:
        leaves *= 2
    tree_val = np.full(2 * leaves, np.inf)
    tree_arg = np.empty(2 * leaves, dtype=np.int64)
    tree_arg[leaves:] = np.arange(leaves)
    m = len(ids)
    scratch = np.empty((2 * _TILE_SPAN + 1) ** 2, dtype=np.int64)
    lost = np.empty(cap, dtype=np.int64)
    for a in ids:
        alive[a] = True
        mom[a] = _momentum_weight(kt2[a], antikt)
        _tile_push(a, _tile(rap[a], phi[a], rap_min, size, n_rap, n_phi), tile_of, head, nxt, prv)
    for a in ids:
        j, d = _find_nn(a, rap, phi, tile_of, head, nxt, r2, rap_min, size, n_rap, n_phi, scratch)
        _set_nn(a, j, d, nn, nn_dist, rev_head, rev_next, rev_prev)
    for a in ids:
        tree_val[leaves + a] = _dij(a, nn, nn_dist, mom)
    for j in range(leaves - 1, 0, -1):
        if tree_val[2 * j + 1] < tree_val[2 * j]:
            tree_val[j], tree_arg[j] = tree_val[2 * j + 1], tree_arg[2 * j + 1]
        else:
            tree_val[j], tree_arg[j] = tree_val[2 * j], tree_arg[2 * j]
    while m > 0:
        a = tree_arg[1]
        b = nn[a]
        if b < 0 and stop_at_beam:
            break
        for gi in range(2 if b >= 0 else 1):
            g = a if gi == 0 else b
            # out of its tile, of the active set and of its NN's list
            t = tile_of[g]
            if prv[g] >= 0:
                nxt[prv[g]] = nxt[g]
            else:
                head[t] = nxt[g]
            if nxt[g] >= 0:
                prv[nxt[g]] = prv[g]
            m -= 1
            alive[g] = False
            _tree_set(tree_val, tree_arg, leaves, g, np.inf)
            _set_nn(g, -1, r2, nn, nn_dist, rev_head, rev_next, rev_prev)
        k = -1
        if b < 0:
            final[a] = True
        else:
            k = n_jets
            n_jets += 1
            px[k], py[k], pz[k], e[k] = px[a] + px[b], py[a] + py[b], pz[a] + pz[b], e[a] + e[b]
            _set_rap_phi(px, py, pz, e, rap, phi, kt2, k)
            parent1[k], parent2[k] = min(a, b), max(a, b)
            mom[k] = _momentum_weight(kt2[k], antikt)
            tk = _tile(rap[k], phi[k], rap_min, size, n_rap, n_phi)
            _tile_push(k, tk, tile_of, head, nxt, prv)
            alive[k] = True
            m += 1
            # one pass over k's neighbourhood finds k's NN and every pseudojet that now has k as its NN
            # (k nearer than its NN so far: nearer than everything else too, also where that NN was a or b)
            best, best_j = r2, -1
            for q in range(_neighbour_tiles(tk, n_rap, n_phi, scratch)):
                c = head[scratch[q]]
                while c >= 0:
                    if c != k:
                        d = _dist2(rap, phi, c, k)
                        if d < best:
                            best, best_j = d, c
                        if d < nn_dist[c]:
                            _set_nn(c, k, d, nn, nn_dist, rev_head, rev_next, rev_prev)
                            _tree_set(tree_val, tree_arg, leaves, c, _dij(c, nn, nn_dist, mom))
                    c = nxt[c]
            _set_nn(k, best_j, best, nn, nn_dist, rev_head, rev_next, rev_prev)
            _tree_set(tree_val, tree_arg, leaves, k, _dij(k, nn, nn_dist, mom))
        # those that still had a or b as NN: search again
        n_lost = 0
        for gi in range(2 if b >= 0 else 1):
            c = rev_head[a if gi == 0 else b]
            while c >= 0:
                lost[n_lost] = c
                n_lost += 1
                c = rev_next[c]
        for q in range(n_lost):
            c = lost[q]
            j, d = _find_nn(c, rap, phi, tile_of, head, nxt, r2, rap_min, size, n_rap, n_phi, scratch)
            _set_nn(c, j, d, nn, nn_dist, rev_head, rev_next, rev_prev)
            _tree_set(tree_val, tree_arg, leaves, c, _dij(c, nn, nn_dist, mom))
    return n_jets, np.flatnonzero(alive[:n_jets])


@numba.njit(cache=True, inline="always")
def _event_store(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, lo: int, n: int) -> tuple:
    """The clustering arrays for the n particles px[lo:lo + n], ... and the up to n - 1 merges after them:
    momenta, rapidity, phi, kt^2, the two parents (-1: a particle) and the final-jet flags."""
    cap = 2 * n
    store = (np.empty(cap), np.empty(cap), np.empty(cap), np.empty(cap), np.empty(cap), np.empty(cap),
             np.empty(cap), np.full(cap, -1, dtype=np.int64), np.full(cap, -1, dtype=np.int64),
             np.zeros(cap, dtype=np.bool_))
    sx, sy, sz, se, srap, sphi, skt2 = store[:7]
    for i in range(n):
        sx[i], sy[i], sz[i], se[i] = px[lo + i], py[lo + i], pz[lo + i], e[lo + i]
        _set_rap_phi(sx, sy, sz, se, srap, sphi, skt2, i)
    return store


@numba.njit(cache=True, nogil=True)
def _antikt_events(offsets: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray,
                   r: float, min_pt: float, with_constituents: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Anti-kT jets with pT >= min_pt of every event (particles offsets[i]:offsets[i + 1]), in the order
    they were completed. Returns (jets per event, jet four-momenta (n, 4), constituents per jet,
    constituent indices within the event, jet by jet, ascending)."""
    n_events = len(offsets) - 1
    counts = np.zeros(n_events, dtype=np.int64)
    jets = np.empty((len(px), 4))
    n_const = np.empty(len(px), dtype=np.int64)
    const = np.empty(len(px) if with_constituents else 0, dtype=np.int64)
    n_out = n_c = 0
    stack = np.empty(max(2 * len(px), 1), dtype=np.int64)
    for ev in range(n_events):
        lo, n = offsets[ev], offsets[ev + 1] - offsets[ev]
        if n == 0:
            continue
        sx, sy, sz, se, srap, sphi, skt2, p1, p2, final = _event_store(px, py, pz, e, lo, n)
        used, _ = _cluster(sx, sy, sz, se, srap, sphi, skt2, n, np.arange(n), r, True, False, p1, p2, final)
        for j in range(used):
            if not final[j] or skt2[j] < min_pt * min_pt:
                continue
            jets[n_out, 0], jets[n_out, 1], jets[n_out, 2], jets[n_out, 3] = sx[j], sy[j], sz[j], se[j]
            counts[ev] += 1
            if with_constituents:
                first = n_c
                top = 0
                stack[0] = j
                while top >= 0:
                    node = stack[top]
                    top -= 1
                    if p1[node] < 0:
                        const[n_c] = node
                        n_c += 1
                    else:
                        stack[top + 1] = p2[node]
                        stack[top + 2] = p1[node]
                        top += 2
                const[first:n_c].sort()  # FastJet's awkward interface lists a jet's constituents by index
                n_const[n_out] = n_c - first
            n_out += 1
    return counts, jets[:n_out], n_const[:n_out], const[:n_c]


@numba.njit(cache=True, inline="always")
def _ca_tree(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray, lo: int, n: int) -> tuple:
    """The C/A clustering with no radius of the n particles px[lo:lo + n], ...: the clustering store (see
    ``_event_store``) with the n - 1 merges in order after the particles, the root last (slot 2n - 2)."""
    store = _event_store(px, py, pz, e, lo, n)
    sx, sy, sz, se, srap, sphi, skt2, p1, p2, final = store
    used, left = _cluster(sx, sy, sz, se, srap, sphi, skt2, n, np.arange(n), _CA_FIRST_PASS_R, False, True,
                          p1, p2, final)
    _cluster(sx, sy, sz, se, srap, sphi, skt2, used, left, _CA_NO_RADIUS, False, False, p1, p2, final)
    return store


@numba.njit(cache=True, nogil=True)
def ca_trees(offsets: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """The C/A trees (no radius, as fastjet's C/A with R = 1000) of jets given by their constituents
    (jet k = offsets[k]:offsets[k + 1]). Returns, concatenated over jets, the two pseudojets each merge joined
    ((sum(n - 1), 2), in merge order, local indices: < n a constituent, n + s the result of merge s) and the
    four-momenta (px, py, pz, E) of every pseudojet ((sum(2n - 1), 4): the constituents, then the merges)."""
    n_jets = len(offsets) - 1
    n_merges, n_pseudo = 0, 0
    for k in range(n_jets):
        n = offsets[k + 1] - offsets[k]
        n_merges += max(n - 1, 0)
        n_pseudo += max(2 * n - 1, 0)
    parents = np.empty((n_merges, 2), dtype=np.int64)
    momenta = np.empty((n_pseudo, 4))
    m0, q0 = 0, 0
    for k in range(n_jets):
        lo, n = offsets[k], offsets[k + 1] - offsets[k]
        if n == 0:
            continue
        sx, sy, sz, se, _, _, _, p1, p2, _ = _ca_tree(px, py, pz, e, lo, n)
        for q in range(2 * n - 1):
            momenta[q0 + q, 0], momenta[q0 + q, 1], momenta[q0 + q, 2], momenta[q0 + q, 3] = sx[q], sy[q], sz[q], se[q]
        for s in range(n - 1):
            parents[m0 + s, 0], parents[m0 + s, 1] = p1[n + s], p2[n + s]
        m0 += n - 1
        q0 += 2 * n - 1
    return parents, momenta


@numba.njit(cache=True, nogil=True)
def _softdrop(offsets: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray,
              beta: float, z_cut: float, r0: float) -> np.ndarray:
    """Soft-drop mass of every jet (constituents offsets[k]:offsets[k + 1]): C/A tree, then down the
    harder (larger pT) branch until min(pT1, pT2)/(pT1 + pT2) > z_cut (dR12/r0)^beta."""
    n_jets = len(offsets) - 1
    msd = np.zeros(n_jets)
    for k in range(n_jets):
        lo, n = offsets[k], offsets[k + 1] - offsets[k]
        if n == 0:
            continue
        sx, sy, sz, se, srap, sphi, skt2, p1, p2, final = _ca_tree(px, py, pz, e, lo, n)
        node = 2 * n - 2  # the root: C/A without a radius ends in one jet, the last one made
        while True:
            if p1[node] >= 0:
                a, b = p1[node], p2[node]
                pt_a, pt_b = math.sqrt(skt2[a]), math.sqrt(skt2[b])
                dr = math.sqrt(_dist2(srap, sphi, a, b))
                if min(pt_a, pt_b) / (pt_a + pt_b) <= z_cut * (dr / r0) ** beta:
                    node = a if pt_a >= pt_b else b
                    continue
            m2 = se[node] * se[node] - sx[node] * sx[node] - sy[node] * sy[node] - sz[node] * sz[node]
            msd[k] = math.sqrt(max(m2, 0.0))
            break
    return msd


def _implementation() -> tuple:
    """(anti-kT over events, soft drop over jets): compiled, or FastJet's with SVJ_PLAIN=1 (clustering_plain.py)."""
    if plain():
        from analysis.kinematics import clustering_plain

        return clustering_plain.antikt_events, clustering_plain.softdrop
    return _antikt_events, _softdrop


def _flat(x: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(x, axis=None))


def _flat_momenta(particles: ak.Array) -> tuple[np.ndarray, list[np.ndarray]]:
    """Event offsets and the flat float64 px, py, pz, E of ``[event][particle]`` records."""
    offsets = np.zeros(len(particles) + 1, dtype=np.int64)
    np.cumsum(ak.to_numpy(ak.num(particles)), out=offsets[1:])
    return offsets, [np.ascontiguousarray(_flat(particles[k]), dtype=np.float64) for k in ("px", "py", "pz", "E")]


def _sorted_selection(counts: np.ndarray, p4: np.ndarray, min_pt: float, max_abs_eta: float
                      ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Jet fields, the order (indices into p4) that sorts each event's jets by descending pT (stable)
    and keeps pT > min_pt, |eta| < max_abs_eta, and the kept jets per event."""
    p = {k: p4[:, i] for i, k in enumerate(("px", "py", "pz", "E"))}
    fields = {**polar(**p), **p}
    event = np.repeat(np.arange(len(counts)), counts)
    order = np.lexsort((-fields["pt"], event))
    keep = (fields["pt"][order] > min_pt) & (np.abs(fields["eta"][order]) < max_abs_eta)
    order = order[keep]
    return fields, order, np.bincount(event[order], minlength=len(counts))


def cluster_jets(particles: ak.Array, r: float = 0.4, min_pt: float = 20.0,
                 max_abs_eta: float = 4.7) -> ak.Array:
    """Anti-kt jets of radius ``r`` (AK4 by default), pT-sorted, pT > min_pt and |eta| < max_abs_eta."""
    offsets, p = _flat_momenta(particles)
    counts, p4, _, _ = _implementation()[0](offsets, *p, r, min_pt, False)
    fields, order, n = _sorted_selection(counts, p4, min_pt, max_abs_eta)
    return ak.unflatten(ak.zip({k: v[order] for k, v in fields.items()}), n)


def softdrop_mass(constituents: ak.Array, beta: float = 0.0, z_cut: float = 0.1, r0: float = 0.8) -> ak.Array:
    """Soft-drop groomed mass of each jet ``[event][jet]`` from its constituents ``[event][jet][particle]``:
    fastjet-contrib's SoftDrop (C/A reclustering with no radius, scalar z, larger-pT recursion, the
    groomed jet's mass; a single constituent's own mass)."""
    per_jet = ak.flatten(constituents, axis=1)
    offsets, p = _flat_momenta(per_jet)
    return ak.unflatten(_implementation()[1](offsets, *p, float(beta), float(z_cut), float(r0)),
                        ak.num(constituents, axis=1))


def cluster_fatjets(particles: ak.Array, r: float = 0.8, min_pt: float = 170.0, max_abs_eta: float = 2.5,
                    sd_beta: float = 0.0, sd_z_cut: float = 0.1) -> tuple[ak.Array, ak.Array]:
    """Anti-kT jets of radius ``r`` (AK8 by default) with their constituents.

    Returns ``(jets, constituents)``: jets ``[event][jet]`` pT-sorted and selected, with ``msoftdrop``
    (R0 = r) and ``nConstituents``; constituents ``[event][jet][particle]`` with every field of
    ``particles``, in the same jet order and FastJet's constituent order.
    """
    antikt, softdrop = _implementation()
    offsets, p = _flat_momenta(particles)
    counts, p4, n_const, index = antikt(offsets, *p, r, min_pt, True)
    fields, order, n = _sorted_selection(counts, p4, min_pt, max_abs_eta)
    # flat particle index of each constituent, regrouped in the selected jets' order
    jet_event = np.repeat(np.arange(len(counts)), counts)
    const_start = np.concatenate([[0], np.cumsum(n_const)[:-1]])
    kept_n = n_const[order]
    within = np.arange(int(kept_n.sum())) - np.repeat(np.cumsum(kept_n) - kept_n, kept_n)
    source = np.repeat(const_start[order], kept_n) + within
    flat_index = index[source] + offsets[np.repeat(jet_event[order], kept_n)]
    constituents = ak.unflatten(ak.unflatten(ak.flatten(particles)[flat_index], kept_n), n)
    msd = softdrop(np.concatenate([[0], np.cumsum(kept_n)]), *(v[flat_index] for v in p),
                   float(sd_beta), float(sd_z_cut), float(r))
    jets = ak.zip({**{k: v[order] for k, v in fields.items()}, "msoftdrop": msd, "nConstituents": kept_n})
    return ak.unflatten(jets, n), constituents
