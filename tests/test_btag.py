"""The b tag of NanoAOD jets (analysis/btag.py): the file's discriminator above the configured working point, on
the real CMS files of tests/data/real; a file without the branch is refused where the study uses b tags."""
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from analysis.btag import BTAG_BRANCH, BTAG_THRESHOLD

REAL = Path(__file__).parent / "data" / "real"
TWO_B = {"cuts": [{"name": "two_b", "var": "n_bjet", "min": 2}]}
# (file, format, branch, threshold); 0.5 on UParT is a test value, not a working point
CASES = [("coffea_nano_tt_v12.root", "nanoaod", BTAG_BRANCH, BTAG_THRESHOLD),
         ("coffea_nano_tt_v15.root", "nanoaod", "btagUParTAK4B", 0.5),
         ("coffea_pfnano_rntuple.root", "pfnano", BTAG_BRANCH, BTAG_THRESHOLD)]


def _hand_count(path: Path, branch: str, threshold: float) -> np.ndarray:
    """Jets per event with Jet_<branch> > threshold, read here with uproot (TTree or RNTuple)."""
    disc = uproot.open(path)["Events"][f"Jet_{branch}"].array()
    return ak.to_numpy(ak.sum(disc > threshold, axis=1))


@pytest.mark.parametrize("name, fmt, branch, threshold", CASES)
def test_n_bjet_is_the_discriminator_above_the_threshold(name, fmt, branch, threshold):
    from analysis.io.inputs import read_input
    from analysis.selection.variables import count_objects

    expected = _hand_count(REAL / name, branch, threshold)
    ev, _ = read_input(str(REAL / name), fmt, ["Jet", "event"], btag={"branch": branch, "threshold": threshold})
    assert (count_objects(ev, "n_bjet") == expected).all() and expected.sum() > 0


def test_skim_cuts_on_n_bjet_and_writes_the_tag(tmp_path):
    """A skim in chunks: its cut flow and its Jet_btag per event against uproot's count (NanoAOD v12, default)."""
    from analysis.skim import skim_file

    path = REAL / "coffea_nano_tt_v12.root"
    expected = _hand_count(path, BTAG_BRANCH, BTAG_THRESHOLD)
    out = tmp_path / "skim.root"
    record = skim_file(str(path), "nanoaod", TWO_B, str(out), "k", step_size=64, need_btag="the cut 'two_b'")
    assert record["cutflow"][-1]["events"] == int((expected >= 2).sum()) > 0
    skim = uproot.open(out)["Events"].arrays(["Jet_btag"])
    assert ak.to_numpy(ak.sum(skim.Jet_btag, axis=1)).tolist() == expected[expected >= 2].tolist()


def test_a_file_without_the_branch_is_refused_only_where_b_tags_are_used(tmp_path):
    from analysis.io.inputs import read_input
    from analysis.io.nanoaod import InputError
    from analysis.skim import skim_file

    path = str(REAL / "coffea_nano_tt_v12.root")
    nope = {"branch": "btagNope", "threshold": 0.5}
    with pytest.raises(InputError) as err:
        skim_file(path, "nanoaod", TWO_B, str(tmp_path / "out.root"), "k", btag=nope, need_btag="the cut 'two_b'")
    text = str(err.value)
    assert text.startswith(f"{path}: no Jet_btagNope branch") and "the cut 'two_b' needs b tags" in text
    assert "Jet_btagDeepFlavB" in text and "Jet_btagRobustParTAK4B" in text and "Jet_btagPNetB" in text
    ev, _ = read_input(path, "nanoaod", ["Jet"], btag=nope)  # not needed: the jets, without a tag
    assert "btag" not in ev.Jet.fields and ak.sum(ak.num(ev.Jet)) == 1504


def _files_study(tmp_path: Path, selection: dict, features: str = "hlf_nano", btag: dict | None = None) -> str:
    from analysis.config import CONFIG_DIR

    for f in CONFIG_DIR.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text())
    study = {"samples": {"tt": {"files": str(REAL / "coffea_nano_tt_v15.root"), "format": "nanoaod",
                                "label": "background", "xsec_pb": 1.0},
                         "svj_s_m2000_r0.3": {}},
             "selection": selection, "features": features, "models": ["ae"]}
    if btag:
        study["inputs"] = {"btag": btag}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return str(path)


def test_config_check_names_the_sample_file_and_branches(tmp_path):
    from analysis.config import ConfigError, load_config

    b_cut = {"name": "ak8_dijet", "cuts": [{"name": "one_b", "var": "n_bjet", "min": 1}]}
    with pytest.raises(ConfigError, match=r"samples\.tt': .*coffea_nano_tt_v15\.root: no Jet_btagNope branch.*"
                                          r"Jet_btagUParTAK4B.*cut 'one_b' on n_bjet needs b tags"):
        load_config(_files_study(tmp_path, b_cut, btag={"branch": "btagNope"}))
    assert load_config(_files_study(tmp_path, "ak8_dijet", btag={"branch": "btagNope"}))  # no b tags used
    with pytest.raises(ConfigError, match=r"event-level features \(dm_objects: jet, bjet split by b tag\)"):
        load_config(_files_study(tmp_path, "darkmachines_ch3", "dm_objects", btag={"branch": "btagNope"}))
    cfg = load_config(_files_study(tmp_path, b_cut))
    assert cfg.inputs["btag"] == {"branch": BTAG_BRANCH, "threshold": BTAG_THRESHOLD}
    with pytest.raises(ConfigError, match=r"inputs.btag.branch' = 'Jet_btagPNetB': the branch name without"):
        load_config(_files_study(tmp_path, b_cut, btag={"branch": "Jet_btagPNetB"}))


def test_readme_documents_the_default_working_point():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    own_files = readme[readme.index("## Bringing your own files"):readme.index("## Jet features")]
    assert f"btag: {{branch: {BTAG_BRANCH}, threshold: {BTAG_THRESHOLD}}}" in own_files
    assert f"`{BTAG_BRANCH}`, at its\nmedium working point of UL2018" in own_files
