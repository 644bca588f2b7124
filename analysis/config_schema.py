"""One schema per config section: every key, its type, what is allowed and its default, written once.

``analysis.config`` validates each section of a study against these models when it loads (so a typo or
a wrong type is a ConfigError before any job), the resolved values (defaults filled in) are what the
tasks read and hash, and :func:`config_reference` renders the README's config reference from them.
The ``models`` section is the model kinds' own schemas (``analysis.models.registry``), the detector
settings the detector's (``analysis.generation.detector_settings``).
"""
from __future__ import annotations

import json
import re
import types
import typing
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from analysis.btag import BTAG_BRANCH, BTAG_THRESHOLD
from analysis.codes import LABELS
from analysis.generation.pythia import PROCESSES, SAMPLE_DEFAULTS
from analysis.io.files import FORMATS
from analysis.schema import Section
from analysis.selection.cuts import Cut, ObjectCuts, Selection

ON_BAD = ("fail", "skip")
SAFE_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
FractionIncl = Annotated[float, Field(gt=0, le=1)]


def check_safe_name(name: Any) -> str:
    """``name`` if it is one safe path component, else ValueError saying what is allowed."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise ValueError("not a safe name: letters, digits, '_', '.', '-' only, not starting with '.' "
                         "(it becomes one folder name)")
    return name


class Generation(Section):
    events_per_chunk: PositiveInt = Field(1000, description="events per generated chunk (a sample may override)")
    seed: NonNegativeInt = Field(1, description="base seed; each (sample, chunk) gets its own seed from it")
    detector: dict | None = Field(None, description="Delphes-CMS-like response: overrides of "
                                  "analysis/generation/detector_settings.py DEFAULT_DETECTOR; {enabled: false} is truth level")


class Sample(Section):
    process: Literal[tuple(PROCESSES)] | None = Field(None, description="Pythia 8 card (generated samples)")
    label: Literal[tuple(LABELS)] = Field(description="background (trained on), signal, or data (real files)")
    pt_hat_min: float | None = Field(None, description="pT-hat threshold in GeV (qcd, wjets, zjets_nunu need it)")
    pt_hat_max: float | None = Field(None, description="upper pT-hat edge of a bin in GeV")
    params: dict[str, int | float] | None = Field(None, description="signal parameters m_med, r_inv, m_dark, n_c, n_f")
    xsec_pb: float | None = Field(None, gt=0, description="cross-section in pb (signals and files: normalised to it)")
    pythia: list[str] = Field(SAMPLE_DEFAULTS["pythia"], description="extra Pythia setting strings, applied last")
    mpi: bool = Field(SAMPLE_DEFAULTS["mpi"], description="multi-parton interactions")
    sqrt_s: float = Field(SAMPLE_DEFAULTS["sqrt_s"], gt=0, description="centre-of-mass energy in GeV")
    chunks: PositiveInt = Field(1, description="generated chunks (one job each)")
    events_per_chunk: PositiveInt | None = Field(None, description="default: generation.events_per_chunk")
    files: str | list[str] | None = Field(None, description="read these files (paths, globs, root:// URLs) "
                                          "instead of generating")
    format: Literal[tuple(FORMATS)] = Field("nanoaod", description="how the events are read")

    @model_validator(mode="after")
    def _source(self) -> "Sample":
        if self.files is None and self.process is None:
            raise ValueError("give 'process' (generate) or 'files' (read)")
        if self.files is not None and self.process is not None:
            raise ValueError("give 'process' (generate) or 'files' (read), not both")
        if self.label == "data" and self.files is None:
            raise ValueError("a 'data' sample is read from files: give 'files'")
        return self


class Features(Section):
    name: str = Field(description="the catalogue entry (config/features.yaml)")
    level: Literal["jet", "event"] = Field("jet", description="jet: one row per AK8 jet; event: one row per "
                                           "event, its objects in a fixed layout")
    names: list[str] | None = Field(None, description="jet level: the features (analysis/features/names.py)")
    objects: dict[str, PositiveInt] | None = Field(None, description="event level: object type -> how many")


class Dataset(Section):
    split: list[Fraction] = Field([0.7, 0.15, 0.15], min_length=3, max_length=3,
                                  description="train, validation, test fractions (sum 1); per event, "
                                  "from a hash of (seed, sample, event number)")
    seed: NonNegativeInt = Field(1, description="seed of the split")
    scaler: Literal["standard", "minmax"] = Field("standard", description="fitted on training background jets")
    jets_per_event: PositiveInt = Field(2, description="leading selected AK8 jets per event")
    representations: list[str] = Field([], description="non-flat views stored beside the features "
                                       "(image<N>, constituents<N>, lund_graph, lund_primary)")

    @field_validator("split")
    @classmethod
    def _sums_to_one(cls, v: list[float]) -> list[float]:
        if abs(sum(v) - 1) > 1e-9:
            raise ValueError("three positive fractions summing to 1")
        return v


class Training(Section):
    seed: NonNegativeInt = Field(1, description="seed of initialisation, batches and the sampler")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:[0-9]+)?|mps)$",
                        description="auto (a GPU if there is one), cpu, cuda, cuda:N or mps")
    weights: Literal["xsec", "none"] = Field("xsec", description="xsec: training and validation rows drawn with "
                                             "probability proportional to their cross-section weight (the physical "
                                             "background mixture); none: every jet alike")


class Plots(Section):
    eps_b: list[FractionIncl] = Field([1e-4, 1e-3, 1e-2, 0.1, 0.5], min_length=1,
                                      description="background efficiencies of the working points")
    injections: list[Fraction] = Field([0.005, 0.01, 0.025], description="signal fractions injected in S/B plots")
    lumi_fb: float = Field(138.0, gt=0, description="luminosity of the S/sqrt(B) plots in fb^-1")
    sculpting_eps_b: list[FractionIncl] = Field([0.5, 0.1, 0.01], description="cuts of the mass-sculpting plots")
    max_feature_panels: PositiveInt = Field(12, description="features drawn in the reconstruction plots")
    challenge_channel: str | None = Field(None, description="Dark Machines channel (ch1, ch2a, ch2b, ch3): "
                                          "adds the challenge's tables")


class BTag(Section):
    branch: str = Field(BTAG_BRANCH, pattern=r"^[A-Za-z0-9_]+$",
                        description="NanoAOD/PFNano: the jets' b-tag discriminator, Jet_<branch> (e.g. btagDeepFlavB, "
                        "btagPNetB, btagRobustParTAK4B, btagUParTAK4B)")
    threshold: float = Field(BTAG_THRESHOLD, description="Jet.btag = discriminator > threshold; the default is "
                             "DeepJet's medium working point of UL2018 (CMS BTV): set your era's and tagger's")

    @field_validator("branch")
    @classmethod
    def _without_prefix(cls, v: str) -> str:
        if v.startswith("Jet_"):
            raise ValueError(f"the branch name without its 'Jet_' prefix ({v.removeprefix('Jet_')})")
        return v


class Inputs(Section):
    on_bad_file: Literal[ON_BAD] = Field("fail", description="skip: an unreadable input file is counted and left out")
    on_bad_line: Literal[ON_BAD] = Field("fail", description="skip: a malformed Dark Machines csv line is "
                                         "counted and left out")
    step_size: PositiveInt = Field(20_000, description="events a skim reads and writes at a time (memory follows it)")
    keep: Literal["all"] | list[str] = Field([], description="collections a skim copies whole beyond what the "
                                             "later stages read (e.g. [HLT, LHEScaleWeight]); all: every branch")
    puppi: bool = Field(True, description="PFNano: candidates' pt and mass multiplied by their puppiWeight")
    btag: BTag = Field(default_factory=BTag, description="NanoAOD/PFNano: how Jet.btag (n_bjet, b-jet objects) "
                       "is made from the file's discriminator (inputs.btag below)")


SECTIONS: dict[str, type[Section]] = {"generation": Generation, "dataset": Dataset, "training": Training,
                                      "plots": Plots, "inputs": Inputs}


def _type_name(ann: Any) -> str:
    """A short readable type: ``int``, ``one of a, b``, ``list of float``, ``... or null``."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"mapping {_type_name(args[0])} -> {_type_name(args[1])}"
    return "mapping" if ann is dict else getattr(ann, "__name__", str(ann))


def config_reference() -> str:
    """The README's config reference (Markdown), one table per section, from the schemas themselves."""
    from analysis.models.registry import kinds

    lines = ["<!-- generated by analysis/config_schema.py config_reference(); tests/test_config.py checks it -->", "",
             "Top level of a study: `description` (text), `generation`, `samples` (name -> overrides of a catalogue entry, "
             "or a new entry), `selection`, `features` and `models` (a catalogue name, or `{name: ..., <overrides>}`; "
             "`models` also a list of names or a mapping name -> overrides), `dataset`, `training`, `plots`, `inputs`, "
             "and `versions` (task name -> version; see Versions per stage)."]
    for title, model in (("generation", Generation), ("samples.<name>", Sample), ("selection", Selection),
                         ("selection.objects.<collection>", ObjectCuts), ("selection.cuts[]", Cut),
                         ("features", Features), ("dataset", Dataset), ("training", Training), ("plots", Plots), ("inputs", Inputs),
                         ("inputs.btag", BTag)):
        lines += ["", f"`{title}`:", "", "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for name, f in model.model_fields.items():
            value = f.get_default(call_default_factory=True)
            value = value.model_dump() if isinstance(value, Section) else value
            default = "required" if f.is_required() else f"`{json.dumps(value)}`"
            text = (f.description or "").replace("|", "\\|")
            lines.append(f"| `{name}` | {_type_name(f.annotation)} | {default} | {text} |")
    lines += ["", "`models.<name>` (per kind; nested keys with a dot; every key optional):", "",
              "| kind | keys and defaults |", "| --- | --- |"]
    for kind, spec in kinds().items():  # each kind's own schema (analysis/models/kinds/)
        flat = _flatten(spec.defaults())
        lines.append(f"| `{kind}` | " + ", ".join(f"`{k}`: `{json.dumps(v)}`" for k, v in flat.items() if k != "kind")
                     + " |")
    return "\n".join(lines) + "\n"


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


if __name__ == "__main__":  # print the README's config reference
    print(config_reference(), end="")
