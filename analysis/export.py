"""Export of a trained AE / NAE / WNAE for use outside this tool: TorchScript and ONNX.

Two graphs per model, both with a dynamic batch dimension and float32 inputs of the SCALED features
(the dataset's scaler is not part of the graph; its offset and scale are written beside it):
  autoencoder  x (n, d) -> reconstruction (n, d)   (encoder + decoder)
  score        x (n, d) -> anomaly score (n,)      (per-sample mean squared reconstruction error, the
                                                     tool's `analysis.training.score`)
`check_exports` runs the files (TorchScript with torch, ONNX with onnxruntime) and returns the
largest deviation from the torch model, so an export is never shipped unchecked.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch
from torch import nn

from analysis.models.ae import AutoEncoder

GRAPHS = ("autoencoder", "score")


class _Reconstruction(nn.Module):
    def __init__(self, model: AutoEncoder):
        super().__init__()
        self.encoder = model.encoder
        self.decoder = model.decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class _Score(_Reconstruction):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reco = self.decoder(self.encoder(x))
        return ((x - reco) ** 2).mean(dim=1)


def _graph(model: AutoEncoder, which: str) -> nn.Module:
    if which not in GRAPHS:
        raise ValueError(f"export graph must be one of {GRAPHS}, got {which!r}")
    return (_Score if which == "score" else _Reconstruction)(model).cpu().eval()


def export_model(model: AutoEncoder, n_features: int, folder: str) -> dict[str, str]:
    """Write {autoencoder,score}.{pt (TorchScript), onnx} into `folder`; returns name -> path.

    Writes in place: callers that need an all-or-nothing export write `folder` atomically (ExportModel does).
    """
    os.makedirs(folder, exist_ok=True)
    example = torch.zeros(2, n_features)
    paths = {}
    for which in GRAPHS:
        graph = _graph(model, which)
        ts_path, onnx_path = os.path.join(folder, f"{which}.pt"), os.path.join(folder, f"{which}.onnx")
        torch.jit.save(torch.jit.script(graph), ts_path)
        with warnings.catch_warnings():  # the TorchScript-based exporter: no onnxscript needed
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(graph, (example,), onnx_path, dynamo=False, input_names=["x"], output_names=[which],
                              dynamic_axes={"x": {0: "n"}, which: {0: "n"}}, opset_version=17)
        paths[f"{which}_torchscript"], paths[f"{which}_onnx"] = ts_path, onnx_path
    return paths


def check_exports(model: AutoEncoder, paths: dict[str, str], x: np.ndarray) -> dict[str, float]:
    """Largest absolute difference between each exported file and the torch model on the rows of x."""
    import onnxruntime  # only needed here

    xt = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))
    out = {}
    for which in GRAPHS:
        with torch.no_grad():
            ref = _graph(model, which)(xt).numpy()
            ts = torch.jit.load(paths[f"{which}_torchscript"])(xt).numpy()
        sess = onnxruntime.InferenceSession(paths[f"{which}_onnx"], providers=["CPUExecutionProvider"])
        (onx,) = sess.run(None, {"x": xt.numpy()})
        out[f"{which}_torchscript"] = float(np.abs(ts - ref).max())
        out[f"{which}_onnx"] = float(np.abs(onx - ref).max())
    return out
