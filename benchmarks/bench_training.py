"""Training throughput (samples/s) of caloreco's trainer against a plain DataLoader loop.

Usage: python benchmarks/bench_training.py [--out results/benchmarks/training.json]
       [--n-train 40000] [--epochs 3] [--batch-size 256] [--threads 1] [--device cpu]

Networks: the COMPASS ``Regressor`` (25 inputs -> 3, MSE) and the default ``PairMLP`` (16 pair
features, class-weighted BCE). Peer, measured in the same run on the same data, model, batch size
and epochs: the textbook loop of the original notebooks (``TensorDataset`` + ``DataLoader
(shuffle=True)``, Adam, ``zero_grad``/``backward``/``step``, a validation pass per epoch). Both
include the per-epoch validation pass. Throughput = training samples x epochs / wall seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from caloreco.nn.nets import build_model  # noqa: E402
from caloreco.nn.training import set_determinism, train  # noqa: E402


def _data(n: int, n_features: int, kind: str, rng: np.random.Generator):
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    if kind == "regression":
        W = rng.normal(size=(n_features, 3)).astype(np.float32) / np.sqrt(n_features)
        return X, (X @ W).astype(np.float32)
    y = (X[:, 0] + 0.3 * X[:, 1] > 1.0).astype(np.float32)
    return X, y


def _ours(model, X, y, Xv, yv, loss, epochs, batch_size, device) -> float:
    t0 = time.perf_counter()
    train(
        model,
        X,
        y,
        Xv,
        yv,
        loss=loss,
        pos_weight="auto" if loss == "bce" else None,
        lr=1e-3,
        batch_size=batch_size,
        max_epochs=epochs,
        patience=epochs + 1,
        seed=0,
        device=device,
        log=lambda s: None,
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _peer(model, X, y, Xv, yv, loss, epochs, batch_size, device) -> float:
    t0 = time.perf_counter()
    model.to(device)
    if loss == "bce":
        pw = torch.tensor([(y == 0).sum() / max((y == 1).sum(), 1)], device=device)
        crit: nn.Module = nn.BCEWithLogitsLoss(pos_weight=pw)
        y, yv = y.reshape(-1, 1), yv.reshape(-1, 1)
    else:
        crit = nn.MSELoss()
    loader = DataLoader(
        TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
        batch_size=batch_size,
        shuffle=True,
    )
    xv, yvt = torch.from_numpy(Xv).to(device), torch.from_numpy(yv).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            out = crit(model(xb), yb)
            out.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            float(crit(model(xv), yvt))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks/training.json")
    parser.add_argument("--n-train", type=int, default=40_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    cases = {
        "regressor": ("regressor", 25, "regression", "mse", {}),
        "pair_mlp": ("pair_mlp", 16, "classification", "bce", {}),
    }
    result: dict[str, object] = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": args.threads,
        "n_train": args.n_train,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "machine": platform.processor() or platform.machine(),
    }
    print(
        f"{'model':<12} {'ours [samples/s]':>18} {'DataLoader loop [samples/s]':>28} {'ratio':>7}"
    )
    for key, (name, n_feat, kind, loss, kw) in cases.items():
        X, y = _data(args.n_train, n_feat, kind, rng)
        Xv, yv = _data(args.n_train // 4, n_feat, kind, rng)
        rates = {}
        for label, fn in (("ours", _ours), ("dataloader_loop", _peer)):
            best = np.inf
            for _ in range(2):  # best of two: less sensitive to a busy shared machine
                set_determinism(0)
                model = build_model(name, n_feat, **kw)
                best = min(
                    best, fn(model, X, y, Xv, yv, loss, args.epochs, args.batch_size, device)
                )
            rates[label] = args.n_train * args.epochs / best
        n_params = sum(p.numel() for p in build_model(name, n_feat, **kw).parameters())
        result[key] = {
            "n_features": n_feat,
            "n_parameters": n_params,
            "samples_per_s": round(rates["ours"], 1),
            "peer_dataloader_samples_per_s": round(rates["dataloader_loop"], 1),
            "speedup": round(rates["ours"] / rates["dataloader_loop"], 3),
        }
        print(
            f"{key:<12} {rates['ours']:>18.4g} {rates['dataloader_loop']:>28.4g} "
            f"{rates['ours'] / rates['dataloader_loop']:>7.2f}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
