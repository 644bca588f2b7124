"""Physics labels for samples and signal parameters (legends and tables show these, not config keys)."""
from __future__ import annotations

PROCESS_LABELS = {
    "qcd": "QCD multijet",
    "ttbar": r"$t\bar{t}$",
    "wjets": r"W($\ell\nu$)+jets",
    "zjets_nunu": r"Z($\nu\nu$)+jets",
    "svj_schannel": "s-channel Z'",
    "svj_tchannel": r"t-channel $\Phi$",
}
# the mediator's mass symbol per signal process (x axis of the AUC grids)
MEDIATOR_SYMBOLS = {"svj_schannel": r"m_{Z'}", "svj_tchannel": r"m_{\Phi}"}
# signal parameters other than the grid axes (m_med, r_inv), as they appear in titles
OTHER_PARAMS = {"m_dark": r"$m_\mathrm{{dark}}$ = {:g} GeV", "n_c": r"$N_c$ = {:g}", "n_f": r"$N_f$ = {:g}"}  # str.format


def mediator_axis(process: str) -> str:
    """The mediator-mass axis label of a signal process, e.g. ``$m_{Z'}$ [GeV]``."""
    symbol = MEDIATOR_SYMBOLS.get(process, r"m_\mathrm{med}")
    return f"${symbol}$ [GeV]"


def sample_label(name: str, spec: dict | None) -> str:
    """``s-channel Z', m = 2000 GeV, r_inv = 0.3`` for a signal, ``QCD multijet (pT-hat 300-500 GeV)`` for a
    binned background; the config key itself where the sample's process is unknown (files of any kind)."""
    spec = spec or {}
    process = PROCESS_LABELS.get(spec.get("process", ""))
    if process is None:
        return name
    params = spec.get("params") or {}
    if "m_med" in params:
        return rf"{process}, m = {params['m_med']:g} GeV, $r_\mathrm{{inv}}$ = {params['r_inv']:g}"
    lo, hi = spec.get("pt_hat_min"), spec.get("pt_hat_max")
    if lo is not None and hi is not None:
        return rf"{process} ($\hat{{p}}_T$ {lo:g}-{hi:g} GeV)"
    if lo is not None:
        return rf"{process} ($\hat{{p}}_T$ > {lo:g} GeV)"
    return process


def plain(label: str) -> str:
    """A matplotlib label as plain text for HTML and Markdown tables (mathtext markers and braces removed)."""
    out = label
    for tex, text in ((r"\bar{t}", "t̄"), (r"\hat{p}_T", "pT-hat"), (r"r_\mathrm{inv}", "r_inv"), (r"\ell", "ℓ"),
                      (r"\nu", "ν"), (r"\Phi", "Φ"), (r"m_\mathrm{dark}", "m_dark"), ("N_c", "N_c"), ("N_f", "N_f")):
        out = out.replace(tex, text)
    return out.replace("$", "")


def model_label(name: str, spec: dict | None) -> str:
    """``WNAE`` for the model ``wnae``; a model name that differs from its kind keeps both (``wnae_big (WNAE)``)."""
    kind = (spec or {}).get("kind", name)
    pretty = kind.upper().replace("GRAPH_", "graph ")
    return pretty if name == kind else f"{name} ({pretty})"
