"""A sample's normalisation and bookkeeping from its skims' records (one per file or generated chunk).

Each skim records the sum of generator weights of its input before any cut (the ``Runs`` tree's
``genEventSumw`` when the file has one, else the sum of ``genWeight``) and the cross-section it was
given. A sample's weight per event is xsec * genWeight / (sum over its files); skipped files are left
out of both the events and the sum. Collision data weighs 1 per event.
"""
from __future__ import annotations

from analysis.dataset import LABELS, code, concat_tables


def sample_entry(name: str, spec: dict, parts: list[tuple[dict | None, dict]]) -> dict:
    """The sample as :func:`analysis.dataset.build_dataset` takes it, from its (table, skim record) pairs
    (table None: the file was skipped); ``skipped`` lists the reasons. Raises ValueError when every
    file of the sample was skipped."""
    kept = [(table, flow) for table, flow in parts if table is not None]
    skipped = [flow["skipped"] for table, flow in parts if table is None]
    if not kept:
        raise ValueError(f"sample {name}: every input file was skipped as unreadable: {skipped}")
    data = spec["label"] == "data"
    xsecs = [flow["xsec_pb"] for _, flow in kept]
    return {
        "name": name, "label": code(LABELS, spec["label"]), "table": concat_tables([t for t, _ in kept]),
        # chunks of one sample share the process: average Pythia's per-chunk estimates
        "xsec_pb": 1.0 if data else spec.get("xsec_pb", sum(xsecs) / len(xsecs)),
        "sum_genweight": 1.0 if data else sum(flow["sum_genweight"] for _, flow in kept),
        "params": spec.get("params"), "process": spec.get("process", spec.get("format", "")),
        "skipped": skipped,
    }
