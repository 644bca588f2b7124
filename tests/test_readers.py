"""Every input format gives the same event record: generated events written as Dark Machines csv,
Delphes and CMS PFNano layouts read back to the same jets, MET and constituents; malformed input is
named by file and line; a config sample given by `files:` is skimmed from those files."""
import json
from pathlib import Path

import awkward as ak
import luigi
import numpy as np
import pytest
import uproot
import yaml

from analysis.config import CONFIG_DIR, ConfigError, load_config
from analysis.generation import generate_sample
from analysis.io.darkmachines import iter_darkmachines, process_code, read_darkmachines, write_darkmachines
from analysis.io.delphes import write_delphes
from analysis.io.inputs import iterate_input, read_input
from analysis.io.nanoaod import ASSOCIATION, InputError, jet_constituents, read_events, write_tree
from analysis.selection.cuts import apply_selection, select_objects
from analysis.selection.variables import count_objects, dijet_system


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """200 ttbar events (leptons, photons, several jets) from the generator, read as the record."""
    path = str(tmp_path_factory.mktemp("gen") / "ttbar.root")
    generate_sample({"process": "ttbar", "pt_hat_min": 250, "label": "background"}, 200, 5, path)
    return path, read_events(path)


def flat(x) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(x, axis=None)), dtype=np.float64)


def assert_same_bits(a: ak.Array, b: ak.Array) -> None:
    """The same layout (fields, types, list lengths) and the same bytes in every buffer."""
    (form_a, n_a, bufs_a), (form_b, n_b, bufs_b) = (ak.to_buffers(ak.to_packed(x)) for x in (a, b))
    assert form_a == form_b and n_a == n_b and bufs_a.keys() == bufs_b.keys()
    for key in bufs_a:
        assert bufs_a[key].tobytes() == bufs_b[key].tobytes(), key


# ---------------------------------------------------------------- Dark Machines csv

PAPER_LINES = (
    "7;ttbar;0.5;77540.9;-2.16068;j,262549,189152,-0.80969,-0.0306187;b,100000,90000,0.1,1.0;"
    "e+,50000,40000,0.2,0.3;m-,30000,20000,1.0,2.0;g,10000,9000,0.4,-0.4;\r\n"
    "987654321000000008; wjets; 2.0; 1000; 0.1\r\n"  # an 18-digit ID, spaces, no trailing ';', no objects
    "\n"
)


def test_darkmachines_fields_and_units(tmp_path):
    path = tmp_path / "paper.csv"
    path.write_text(PAPER_LINES)
    ev, notes = read_darkmachines(str(path))
    assert len(ev) == 2 and notes["bad_lines"] == 0
    assert ak.to_list(ev.event) == [7, 987654321000000008] and ak.to_list(ev.genWeight) == [0.5, 2.0]
    assert ev.MET.pt[0] == pytest.approx(77.5409, rel=1e-6) and ev.MET.phi[1] == pytest.approx(0.1)
    assert ak.to_list(ev.Jet.btag) == [[0, 1], []]
    assert ak.to_list(ev.Jet.pt[0]) == pytest.approx([189.152, 90.0], rel=1e-6)
    # mass from E, pt, eta: m^2 = E^2 - (pt cosh eta)^2
    m = np.sqrt(262.549**2 - (189.152 * np.cosh(-0.80969))**2)
    assert ev.Jet.mass[0][0] == pytest.approx(m, rel=1e-4)
    assert ak.to_list(ev.Electron.charge) == [[1], []] and ak.to_list(ev.Muon.charge) == [[-1], []]
    assert ak.to_list(ev.Photon.pt) == [[pytest.approx(9.0)], []]
    assert notes["processes"] == {str(process_code("ttbar")): "ttbar", str(process_code("wjets")): "wjets"}
    assert ak.to_list(ev.DM.processId) == [process_code("ttbar"), process_code("wjets")]


def test_darkmachines_round_trip(generated, tmp_path):
    _, ev = generated
    path = str(tmp_path / "ttbar.csv")
    write_darkmachines(path, ev, "ttbar")
    back, notes = read_input(path, "darkmachines")
    assert notes["bad_lines"] == 0 and len(back) == len(ev) == 200
    assert ak.to_list(back.event) == ak.to_list(ev.event)  # 10^17-size IDs survive (no float64)
    for coll in ("Jet", "Electron", "Muon", "Photon"):
        assert ak.to_list(ak.num(back[coll])) == ak.to_list(ak.num(ev[coll])), coll
        for f in ("pt", "eta", "phi"):  # float32 text in MeV: relative precision 1e-7
            np.testing.assert_allclose(flat(back[coll][f]), flat(ev[coll][f]), rtol=3e-7, atol=1e-6)
    assert ak.sum(ak.num(ev.Electron)) > 0 and ak.sum(ak.num(ev.Muon)) > 0
    np.testing.assert_array_equal(flat(back.Electron.charge), flat(ev.Electron.charge))
    np.testing.assert_allclose(flat(back.MET.pt), flat(ev.MET.pt), rtol=3e-7)
    # mass comes back through E^2 - p^2: precise to ~1e-7 of E^2, i.e. dm ~ 1e-7 E^2 / m
    e = flat(np.sqrt((ev.Jet.pt * np.cosh(ev.Jet.eta))**2 + ev.Jet.mass**2))
    dm2 = np.abs(flat(back.Jet.mass)**2 - flat(ev.Jet.mass)**2)
    assert np.all(dm2 <= 1e-6 * e**2 + 1e-6)


BAD = [
    ("1;qcd;1;100;0.1;j,1,1,0.1,0.2\n2;qcd;1;100\n", 2, "expected at least 5"),
    ("1;qcd;1;100;0.1;j,1,1,0.1\n", 1, "object 1 'j,1,1,0.1' has 4"),
    ("1;qcd;1;100;0.1;\n2;qcd;1;100;0.1;j,1,1,0.1,0.2;q,1,1,0.1,0.2;\n", 2, "object 2: unknown object code 'q'"),
    ("1;qcd;1;1e2;0.1;j,1,abc,0.1,0.2\n", 1, "object 1 pt 'abc' is not a finite number"),
    ("1.5;qcd;1;100;0.1\n", 1, "event ID '1.5' is not a finite integer"),
    ("1;qcd;1;nan;0.1\n", 1, "MET 'nan' is not a finite number"),
    ("1;qcd;1;100;0.1;j,1,1,0.1,0.2,7\n", 1, "object 1 'j,1,1,0.1,0.2,7' has 6"),
    ("1;qcd;1;100;0.1,5\n", 1, "METphi '0.1,5' contains ','"),
    ("1;;1;100;0.1\n", 1, "process ID is empty"),
]


@pytest.mark.parametrize("text,line,reason", BAD)
def test_darkmachines_malformed_line_named(tmp_path, text, line, reason):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=f"bad.csv: line {line}: {reason}"):
        read_darkmachines(str(path))


def test_darkmachines_skip_counts_across_blocks(generated, tmp_path):
    _, ev = generated
    good = tmp_path / "good.csv"
    write_darkmachines(str(good), ev[:50], "ttbar")
    lines = good.read_text().splitlines()
    lines[3] = lines[3].replace(";j,", ";x,", 1)
    lines[40] = lines[40][: len(lines[40]) // 2]  # a truncated line
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="line 4: .*unknown object code 'x'"):
        read_darkmachines(str(bad))
    # small blocks: lines are cut across many reads, line numbers still count from the file start
    for block in (1 << 20, 700, 64):  # 64 bytes: shorter than a line, the buffer grows
        back, notes = read_darkmachines(str(bad), "skip", block_bytes=block)
        assert notes["bad_lines"] == 2 and notes["bad_line_numbers"] == [4, 41]
        keep = np.setdiff1d(np.arange(50), [3, 40])
        assert ak.to_list(back.event) == ak.to_list(ev.event[keep])
        np.testing.assert_allclose(flat(back.Jet.pt), flat(ev.Jet.pt[keep]), rtol=3e-7)


def test_darkmachines_line_without_fields_does_not_hide_the_next(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("1;qcd;1;100;0.1\n2\n3;qcd;1;100;0.1\n")
    back, notes = read_darkmachines(str(path), "skip")
    assert ak.to_list(back.event) == [1, 3] and notes["lines"] == 3 and notes["bad_line_numbers"] == [2]


def test_darkmachines_vectorised_lines_read_as_the_reference(generated, tmp_path, monkeypatch):
    """The writer's lines take the vectorised path; the same lines with blanks after every value take
    the byte-by-byte one (the reference reading), and so do the writer's lines with SVJ_PLAIN=1: all give
    the same record to the last bit."""
    from analysis.accelerated import PLAIN_ENV

    _, ev = generated
    fast = tmp_path / "fast.csv"
    write_darkmachines(str(fast), ev, "ttbar")
    slow = tmp_path / "slow.csv"
    slow.write_text(fast.read_text().replace(",", " ,").replace(";", " ;"))
    a, _ = read_darkmachines(str(fast))
    b, _ = read_darkmachines(str(slow), block_bytes=4096)
    monkeypatch.setenv(PLAIN_ENV, "1")
    c, _ = read_darkmachines(str(fast))
    assert len(a) == 200 and ak.sum(ak.num(a.Jet)) > 500
    for other in (b, c):
        assert_same_bits(a, other)



@pytest.fixture(scope="module")
def mixed_csv(generated, tmp_path_factory):
    """The 200 generated events as csv with what a reader must step over: two malformed lines (skipped),
    blank lines, a second process, a line with blanks around its values (the byte-by-byte reader)."""
    _, ev = generated
    path = tmp_path_factory.mktemp("csv") / "mixed.csv"
    write_darkmachines(str(path), ev, "ttbar")
    lines = path.read_text().splitlines()
    lines[30] = lines[30].replace(";ttbar;", ";wjets;")
    lines[90] = lines[90].replace(";", " ; ")
    lines[150:150] = [lines[150][:lines[150].rindex(",")], "", "1;qcd;1;100;0.1;j,1,1,0.1"]  # objects of 4 values
    lines[60:60] = ["  "]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("plain", ["0", "1"])
def test_darkmachines_chunks_are_the_whole_read_cut(mixed_csv, plain, monkeypatch):
    """Reading in chunks of events gives the whole read's events to the last bit, cut every ``step``
    events: steps of one event, steps that end inside a block, blocks that end inside a step (and in
    the middle of a line), a step of the whole file and one larger; the compiled reader and the plain
    one alike. Each chunk's notes cover the lines read so far, the last one's the file."""
    from analysis.accelerated import PLAIN_ENV

    monkeypatch.setenv(PLAIN_ENV, "0")
    whole, notes = read_darkmachines(mixed_csv, "skip")
    assert len(whole) == 200 and notes["bad_line_numbers"] == [152, 154] and notes["lines"] == 204
    assert len(set(ak.to_list(whole.DM.processId))) == 2
    monkeypatch.setenv(PLAIN_ENV, plain)
    for step in (1, 7, 64, 199, 200, 5000):
        for block in (1 << 20, 700):
            chunks = list(iter_darkmachines(mixed_csv, step, "skip", block_bytes=block))
            assert [len(c) for c, _ in chunks] == [step] * (200 // step) + [200 % step] * (200 % step > 0)
            assert_same_bits(ak.concatenate([c for c, _ in chunks]), whole)
            assert chunks[-1][1] == notes
            lines = [n["lines"] for _, n in chunks]
            assert lines == sorted(lines) and (lines[0] < 204) == (block == 700 and step <= 64)
    skim_chunks = list(iterate_input(mixed_csv, "darkmachines", ["Jet", "MET"], on_bad_line="skip", step_size=64))
    assert [len(c) for c, _ in skim_chunks] == [64, 64, 64, 8] and skim_chunks[-1][1] == notes
    assert_same_bits(skim_chunks[2][0], whole[["Jet", "MET"]][128:192])


def test_darkmachines_chunked_errors_name_the_line_and_empty_files_give_one_chunk(mixed_csv, tmp_path):
    """``fail``: the malformed line is named with its number in the file when its block is read, after
    the chunks before it; a file without events gives one empty chunk with its notes."""
    whole, _ = read_darkmachines(mixed_csv, "skip")
    got = []
    with pytest.raises(InputError, match=r"mixed.csv: line 152: object \d+ .* has 4"):
        for chunk, _ in iter_darkmachines(mixed_csv, 7, block_bytes=700):
            got.append(chunk)
    assert 100 < 7 * len(got) < 150  # the chunks read before the line's block, as in the whole read
    assert_same_bits(got[-1], whole[7 * (len(got) - 1):7 * len(got)])
    empty = tmp_path / "blank.csv"
    empty.write_text("\n  \n")
    (chunk, notes), = iter_darkmachines(str(empty), 10)
    assert len(chunk) == 0 and notes == {"lines": 2, "bad_lines": 0, "bad_line_numbers": [], "processes": {}}


def test_darkmachines_gzipped_reads_as_the_text_in_chunks(mixed_csv, tmp_path):
    """A gzipped csv (its size unknown until read) gives the same chunks and notes as the text."""
    import gzip

    packed = tmp_path / "mixed.csv.gz"
    packed.write_bytes(gzip.compress(Path(mixed_csv).read_bytes()))
    whole, notes = read_darkmachines(mixed_csv, "skip")
    chunks = list(iter_darkmachines(str(packed), 64, "skip", block_bytes=700))
    assert [len(c) for c, _ in chunks] == [64, 64, 64, 8] and chunks[-1][1] == notes
    assert_same_bits(ak.concatenate([c for c, _ in chunks]), whole)

def test_darkmachines_chunked_memory_does_not_grow_with_the_file(generated, tmp_path):
    """Memory allocated while reading (tracemalloc: numpy's arrays, not the per-block scratch of the
    compiled pass) stays the same for a file twice as long in chunks, and grows with it read whole."""
    import tracemalloc

    write_darkmachines(str(tmp_path / "one.csv"), generated[1], "ttbar")
    lines = (tmp_path / "one.csv").read_text().splitlines()
    peaks = {}
    for n in (6000, 12000):
        path = tmp_path / f"n{n}.csv"
        path.write_text("".join(f"{i};{lines[i % len(lines)].split(';', 1)[1]}\n" for i in range(n)))
        for mode in ("whole", "chunks"):
            tracemalloc.start()
            for chunk, _ in iter_darkmachines(str(path), None if mode == "whole" else 500, block_bytes=1 << 16):
                assert len(chunk) == (n if mode == "whole" else 500)
                del chunk
            peaks[mode, n] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert peaks["chunks", 12000] < 1.1 * peaks["chunks", 6000] < 0.6 * peaks["whole", 6000]
    assert peaks["whole", 12000] > 1.6 * peaks["whole", 6000]

def test_darkmachines_numbers_are_pythons_floats(tmp_path):
    """genWeight keeps the parsed float64: every form the format allows (signs, no integer part,
    exponents) reads as Python's float() of the same text to the last bit while the digits make an
    integer below 2^53 (any float32 the writer writes, up to 15 digits); longer mantissas (a float64
    written in full) within two ulps."""
    rng = np.random.default_rng(3)
    texts = [repr(float(x)) for x in rng.uniform(-1e6, 1e6, 200).astype(np.float32)]
    texts += [str(x) for x in rng.uniform(-1, 1, 200).astype(np.float32)]
    texts += [f"{x:.{k}f}" for k, x in zip(rng.integers(0, 9, 200), rng.uniform(-1e6, 1e6, 200))]
    texts += ["0", "-0", "-0.0", "5.", ".5", "-.25", "1e5", "2.5E-3", "123456789012345", "1234567890123456",
              "12345678901234567", "0.000000000000001", "9007199254740993", "-99999999.9999999", "3.0000000000000004"]
    texts += [repr(float(x)) for x in rng.uniform(-1e6, 1e6, 100)]
    path = tmp_path / "numbers.csv"
    path.write_text("".join(f"{i};qcd;{t};{t.lstrip('-')};{t};j,{t.lstrip('-')},1,{t},{t}\n" for i, t in enumerate(texts)))
    back, notes = read_darkmachines(str(path))
    assert notes["bad_lines"] == 0 and len(back) == len(texts)
    want, got = np.array([float(t) for t in texts]), ak.to_numpy(back.genWeight)
    exact = np.array([int(t.lower().split("e")[0].replace("-", "").replace(".", "") or 0) < 2**53 for t in texts])
    assert exact.sum() > 600 and (~exact).sum() > 30
    assert np.array_equal(got[exact].view(np.int64), want[exact].view(np.int64))  # bits, so -0.0 too
    np.testing.assert_allclose(got[~exact], want[~exact], rtol=5e-16)
    np.testing.assert_array_equal(ak.to_numpy(back.MET.phi)[exact], want[exact].astype(np.float32))
    np.testing.assert_array_equal(flat(back.Jet.eta)[exact], want[exact].astype(np.float32))


# ---------------------------------------------------------------- Delphes

def test_delphes_round_trip(generated, tmp_path):
    _, ev = generated
    path = str(tmp_path / "delphes.root")
    write_delphes(path, ev)
    keys = uproot.open(path)["Delphes"].keys()
    assert {"Jet.PT", "FatJet.Eta", "EFlowTrack.PT", "EFlowNeutralHadron.ET", "MissingET.MET", "Event.Weight"} <= set(keys)
    back, _ = read_input(path, "delphes")
    for coll in ("FatJet", "Jet", "Electron", "Muon", "Photon"):
        for f in ("pt", "eta", "phi"):
            assert ak.to_list(back[coll][f]) == ak.to_list(ev[coll][f]), (coll, f)
    assert ak.to_list(back.MET.pt) == ak.to_list(ev.MET.pt)
    assert ak.to_list(back.event) == ak.to_list(ev.event)
    # constituents rebuilt by Delta R < 0.8 to the nearest jet: anti-kT's own assignment almost always
    cands = back.PFCands
    jets = back.FatJet[cands.fatJetIdx]
    dphi = (cands.phi - jets.phi + np.pi) % (2 * np.pi) - np.pi
    assert ak.all(np.hypot(cands.eta - jets.eta, dphi) < 0.8)
    orig = ev.PFCands[ev.PFCands.fatJetIdx >= 0]
    n_orig, n_back = int(ak.sum(ak.num(orig))), int(ak.sum(ak.num(cands)))
    assert 0.95 * n_orig <= n_back <= n_orig
    per_jet_pt = flat(ak.sum(jet_constituents(back).pt, axis=2))
    np.testing.assert_allclose(per_jet_pt, flat(ak.sum(jet_constituents(ev).pt, axis=2)), rtol=0.1, atol=20.0)
    assert np.median(np.abs(flat(back.FatJet.msoftdrop) - flat(ev.FatJet.msoftdrop))) < 1e-3


def test_delphes_errors_named(generated, tmp_path):
    path, ev = generated
    with pytest.raises(InputError, match="no 'Delphes' tree"):
        read_input(path, "delphes")
    delphes = str(tmp_path / "nofat.root")
    write_delphes(delphes, ak.Array({f: ev[f] for f in ev.fields if f != "FatJet"}))
    with pytest.raises(InputError, match="no branch FatJet.PT"):
        read_input(delphes, "delphes", ["FatJet"])


# ---------------------------------------------------------------- CMS PFNano

def write_pfnano(path: str, ev: ak.Array, seed: int = 1) -> ak.Array:
    """CMS PFNano layout: all candidates in shuffled order, jet membership only in the
    FatJetPFCands table. Returns the shuffled candidates (with the true fatJetIdx)."""
    rng = np.random.default_rng(seed)
    order = ak.argsort(ak.unflatten(rng.random(int(ak.sum(ak.num(ev.PFCands)))), ak.num(ev.PFCands)), axis=1)
    cands = ev.PFCands[order]
    in_jet = cands.fatJetIdx >= 0
    table = ak.zip({"jetIdx": cands.fatJetIdx[in_jet],
                    "pFCandsIdx": ak.values_astype(ak.local_index(cands)[in_jet], np.int32)})
    write_tree(path, {"event": ak.to_numpy(ev.event), "genWeight": ak.to_numpy(ev.genWeight),
                      "MET_pt": ak.to_numpy(ev.MET.pt), "MET_phi": ak.to_numpy(ev.MET.phi),
                      "FatJet": ak.zip({f: ev.FatJet[f] for f in ("pt", "eta", "phi", "mass", "msoftdrop")}),
                      "PFCands": ak.zip({f: cands[f] for f in cands.fields if f != "fatJetIdx"}),
                      ASSOCIATION: table})
    return cands


def test_pfnano_association_table(generated, tmp_path):
    _, ev = generated
    path = str(tmp_path / "pfnano.root")
    cands = write_pfnano(path, ev)
    back, _ = read_input(path, "pfnano")
    assert ASSOCIATION not in back.fields
    assert ak.to_list(back.PFCands.fatJetIdx) == ak.to_list(cands.fatJetIdx)
    # constituents per jet are the generator's, whatever the candidate order
    np.testing.assert_allclose(flat(ak.sum(jet_constituents(back).pt, axis=2)),
                               flat(ak.sum(jet_constituents(ev).pt, axis=2)), rtol=1e-5)
    with pytest.raises(InputError, match="no branches for FatJetPFCands"):
        read_input(generated[0], "pfnano")


def test_pfnano_bad_index_named(generated, tmp_path):
    _, ev = generated
    ev = ev[:5]
    table = ak.zip({"jetIdx": ak.values_astype(ak.zeros_like(ev.PFCands.pt), np.int32),
                    "pFCandsIdx": ak.values_astype(ak.local_index(ev.PFCands) + 1, np.int32)})  # last one past the end
    path = str(tmp_path / "badidx.root")
    write_tree(path, {"genWeight": ak.to_numpy(ev.genWeight), "FatJet": ak.zip({"pt": ev.FatJet.pt}),
                      "PFCands": ak.zip({"pt": ev.PFCands.pt}), ASSOCIATION: table})
    with pytest.raises(InputError, match="badidx.root: FatJetPFCands: .* rows point past"):
        read_input(path, "pfnano")


def test_unknown_format():
    with pytest.raises(ValueError, match="format: one of nanoaod, pfnano, delphes, darkmachines"):
        read_input("x.root", "lhe")


# ---------------------------------------------------------------- selections on real inputs

SELECTIONS = yaml.safe_load((CONFIG_DIR / "selections.yaml").read_text())


@pytest.mark.parametrize("name", ["darkmachines_ch1", "darkmachines_ch2a", "darkmachines_ch2b", "darkmachines_ch3"])
def test_darkmachines_channels_hand_count(generated, tmp_path, name):
    """Cut flow of each channel on generated events read from csv == a numpy count on the arrays."""
    _, ev = generated
    path = str(tmp_path / "ch.csv")
    write_darkmachines(path, ev, "ttbar")
    dm, _ = read_input(path, "darkmachines")
    mask, flow = apply_selection(dm, SELECTIONS[name], dm.genWeight)
    sel = select_objects(dm, SELECTIONS[name]["objects"])
    jet_pt = sel.Jet.pt
    ht = flat(ak.sum(jet_pt, axis=1))
    met = flat(dm.MET.pt)
    lep = np.asarray(ak.to_numpy(ak.sum(sel.Electron.pt > 15, axis=1) + ak.sum(sel.Muon.pt > 15, axis=1)))
    steps = {
        "darkmachines_ch1": [ht >= 600, met >= 200, met / ht >= 0.2, ak.to_numpy(ak.sum(jet_pt > 50, axis=1)) >= 4,
                             ak.to_numpy(ak.sum(jet_pt > 200, axis=1)) >= 1],
        "darkmachines_ch2a": [met >= 50, lep >= 3],
        "darkmachines_ch2b": [met >= 50, ht >= 50, lep >= 2],
        "darkmachines_ch3": [ht >= 600, met >= 100],
    }[name]
    hand = np.ones(len(dm), bool)
    expect = [len(dm)]
    for step in steps:
        hand &= step
        expect.append(int(hand.sum()))
    assert [r["events"] for r in flow] == expect
    assert mask.tolist() == hand.tolist()
    assert flow[-1]["weighted"] == pytest.approx(float(flat(dm.genWeight)[hand].sum()))
    if name in ("darkmachines_ch3", "darkmachines_ch2b"):
        assert 0 < expect[-1] < len(dm)  # ttbar at pT-hat > 250 GeV: some events pass, not all


def test_autoencodesvj_preselection_hand_count(generated):
    _, ev = generated
    sel_cfg = SELECTIONS["autoencodesvj"]
    mask, flow = apply_selection(ev, sel_cfg, ev.genWeight)
    sel = select_objects(ev, sel_cfg["objects"])
    n_lep = count_objects(sel, "n_lepton")
    fj = ak.pad_none(sel.FatJet, 2, clip=True)
    deta = np.abs(np.asarray(ak.to_numpy(ak.fill_none(fj.eta[:, 0] - fj.eta[:, 1], np.nan))))
    mt = dijet_system(sel)["mt"]
    steps = [flat(ak.num(sel.FatJet)) >= 2, deta <= 1.5, mt >= 1500, flat(ev.MET.pt) / mt >= 0.25, n_lep <= 0]
    hand, expect = np.ones(len(ev), bool), [len(ev)]
    for step in steps:
        hand &= step
        expect.append(int(hand.sum()))
    assert [r["events"] for r in flow] == expect and mask.tolist() == hand.tolist()
    assert expect[1] > 0


# ---------------------------------------------------------------- a config sample given by files

def _config(directory: Path, samples: dict, **extra) -> str:
    for f in CONFIG_DIR.glob("*.yaml"):
        (directory / f.name).write_text(f.read_text())
    path = directory / "files.yaml"
    path.write_text(yaml.safe_dump({"samples": samples, "selection": "darkmachines_ch3", "features": "dm_objects",
                                    "models": {"ae": {"epochs": 1}}, **extra}, sort_keys=False))
    return str(path)


def test_files_sample_is_skimmed(generated, tmp_path, monkeypatch):
    """Background from a Dark Machines csv (one malformed line, skipped), signal from two Delphes
    files by glob: one SkimEvents branch per file, no generation, normalisation from the files."""
    monkeypatch.setenv("DATA_PATH", str(tmp_path / "data"))
    _, ev = generated
    write_darkmachines(str(tmp_path / "bkg.csv"), ev[:120], "ttbar")
    with open(tmp_path / "bkg.csv", "a") as f:
        f.write("999;ttbar;1;oops\n")
    write_delphes(str(tmp_path / "sig_0.root"), ev[120:160])
    write_delphes(str(tmp_path / "sig_1.root"), ev[160:])
    samples = {"dm_bkg": {"files": str(tmp_path / "bkg.csv"), "format": "darkmachines", "label": "background",
                          "xsec_pb": 10.0},
               "delphes_sig": {"files": [str(tmp_path / "sig_*.root")], "format": "delphes", "label": "signal",
                               "xsec_pb": 0.1}}
    cfg = _config(tmp_path, samples, inputs={"on_bad_line": "skip"})
    from tasks.samples import SkimEvents

    task = SkimEvents(version="t", config=cfg)
    assert list(task.branch_map.values()) == [("dm_bkg", 0), ("delphes_sig", 0), ("delphes_sig", 1)]
    assert luigi.build([task], local_scheduler=True, workers=1, log_level="WARNING")
    assert not (tmp_path / "data" / "GenerateEvents").exists()
    parts = [ev[:120], ev[120:160], ev[160:]]
    for b, part in enumerate(parts):
        out = task.as_branch(b).output()
        flow = json.loads(Path(out["cutflow"].path).read_text())
        assert flow["n_generated"] == len(part)
        assert flow["sum_genweight"] == pytest.approx(float(flat(part.genWeight).sum()))
        ht, met = flat(ak.sum(part.Jet.pt[(part.Jet.pt > 20) & (abs(part.Jet.eta) < 2.8)], axis=1)), flat(part.MET.pt)
        expect = int(((ht >= 600) & (met >= 100)).sum())
        assert flow["cutflow"][-1]["events"] == expect
        assert len(read_events(out["events"].path)) == expect
    bkg_flow = json.loads(Path(task.as_branch(0).output()["cutflow"].path).read_text())
    assert bkg_flow["read"]["bad_lines"] == 1 and bkg_flow["read"]["bad_line_numbers"] == [121]


@pytest.mark.parametrize("over,match", [
    ({"files": "/nonexistent/*.root"}, r"samples.x.files' = '/nonexistent/\*.root': '/nonexistent/\*.root' matches no file"),
    ({"files": "{f}", "format": "lhe"}, "samples.x.format"),
    ({"files": "{f}", "process": "qcd"}, "'process' .* or 'files' .*, not both"),
    ({"files": "{f}", "xsec_pb": None}, "samples.x.xsec_pb"),
    ({"format": "delphes", "process": "qcd"}, "samples.x.format"),
])
def test_files_sample_config_errors(generated, tmp_path, over, match):
    spec = {"label": "background", "xsec_pb": 1.0} | {k: (v.format(f=generated[0]) if isinstance(v, str) else v)
                                                     for k, v in over.items()}
    spec = {k: v for k, v in spec.items() if v is not None}
    cfg = _config(tmp_path, {"x": spec, "svj_s_m2000_r0.3": {}})
    with pytest.raises(ConfigError, match=match):
        load_config(cfg)


def test_on_bad_line_value_checked(tmp_path):
    cfg = _config(tmp_path, {"qcd": {}, "svj_s_m2000_r0.3": {}}, inputs={"on_bad_line": "ignore"})
    with pytest.raises(ConfigError, match="inputs.on_bad_line' = 'ignore': .*'fail' or 'skip'"):
        load_config(cfg)
