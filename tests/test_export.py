"""TorchScript and ONNX exports give the torch model's reconstructions and anomaly scores."""
import numpy as np
import onnxruntime
import pytest
import torch

from analysis.export import _graph, check_exports, export_model
from analysis.training import load_model, score, train_model


def test_exported_scores_equal_torch_scores(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 5)).astype(np.float32) @ rng.standard_normal((5, 5)).astype(np.float32)
    train_model({"kind": "wnae", "epochs": 1, "batch_size": 128, "val_samples": 64, "hidden": [8], "latent": 2,
                 "sampler": {"n_steps": 3, "buffer_size": 256}}, x[:500], x[500:], str(tmp_path / "w"), seed=1)
    model = load_model(str(tmp_path / "w" / "best.pt"))
    paths = export_model(model, 5, str(tmp_path / "export"))
    assert sorted(paths) == ["autoencoder_onnx", "autoencoder_torchscript", "score_onnx", "score_torchscript"]
    x_new = rng.standard_normal((333, 5)).astype(np.float32) * 3  # another batch size than exported with
    diffs = check_exports(model, paths, x_new)
    assert max(diffs.values()) < 1e-5, diffs
    # the exported score is the tool's anomaly score
    sess = onnxruntime.InferenceSession(paths["score_onnx"], providers=["CPUExecutionProvider"])
    (onnx_score,) = sess.run(None, {"x": x_new})
    with torch.no_grad():
        ts_score = torch.jit.load(paths["score_torchscript"])(torch.as_tensor(x_new)).numpy()
    ours = score(model, x_new)
    assert onnx_score.shape == (333,) and np.allclose(onnx_score, ours, rtol=1e-5, atol=1e-6)
    assert np.allclose(ts_score, ours, rtol=1e-6, atol=1e-7)
    assert ours.std() > 0  # a trained, non-constant score
    with pytest.raises(ValueError, match="export graph"):
        _graph(model, "encoder")
