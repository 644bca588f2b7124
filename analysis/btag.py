"""The b tag of AK4 jets on CMS NanoAOD: the file's discriminator above a working point (imports nothing: the
config schema and the readers read it).

Every reader gives ``Jet.btag`` (0/1): Delphes' ``BTag``, the Dark Machines csv's ``b`` objects, the tool's own
skims. CMS NanoAOD/PFNano store no such flag, only discriminators (``Jet_btagDeepFlavB``, ``Jet_btagPNetB``,
``Jet_btagRobustParTAK4B``, ``Jet_btagUParTAK4B``, ...): the reader sets ``Jet.btag`` = discriminator >
threshold, from the study's ``inputs.btag`` (``branch`` without the ``Jet_`` prefix, ``threshold``). The
default is DeepJet (``btagDeepFlavB``, stored from NanoAOD v9 to v15, also in the v15 test file) at its medium
working point of UL2018 (NanoAOD v9), 0.2783 as published by CMS BTV
(https://btv-wiki.docs.cern.ch/ScaleFactors/UL2018/; 1% light-jet mistag rate): a Run 2 default, like the
138 fb^-1 of the report's significance. Working points are per era and tagger: Run 3 files (NanoAOD v12-v15)
need the era's value from the BTV pages (``btagUParTAK4B`` is the v15 recommendation), set in the study.

A file without the configured branch is refused only where the study uses b tags (a cut on a b-jet count, or
event-level objects split into b and light jets: ``analysis.event_features.btag_needed_by``). Elsewhere the
jets are read without ``btag``: a study of AK8 substructure must not fail on files whose discriminators it
never reads. Where the branch is present the tag is always filled, so a skim's content does not depend on
what the study needs.
Generated events have no b tagging (the detector response has none): their jets count as light.
"""
from __future__ import annotations

BTAG_BRANCH = "btagDeepFlavB"  # DeepJet
BTAG_THRESHOLD = 0.2783  # DeepJet medium working point, UL2018 (NanoAOD v9), CMS BTV
TAGGED_FORMATS = ("nanoaod", "pfnano")  # the formats whose b tag comes from a discriminator


def missing_branch(branches: set[str], branch: str) -> str | None:
    """Why these ``Events`` branches give no b tag with ``branch`` (None: they do: the discriminator, or the
    tool's own 0/1 ``Jet_btag``), naming the discriminators they have."""
    if "Jet_btag" in branches or f"Jet_{branch}" in branches:
        return None
    have = sorted(b for b in branches if b.startswith("Jet_btag"))
    return (f"no Jet_{branch} branch for the b tag (inputs.btag.branch); its b-tag discriminators: "
            f"{', '.join(have) or 'none'}")
