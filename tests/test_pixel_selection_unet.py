"""The U-Net of the pixel selection: focal loss, shapes, determinism, learning, checkpoints."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from caloreco.imaging.pixel_selection import focal_loss_numpy
from caloreco.nn.unet import (
    UNet,
    UNetConfig,
    focal_loss,
    load_unet,
    predict_unet,
    save_unet,
    train_unet,
)


def test_focal_loss_is_half_the_bce_at_gamma_zero_and_alpha_half():
    g = torch.Generator().manual_seed(0)
    logits = 4 * torch.randn(200, generator=g)
    y = (torch.rand(200, generator=g) < 0.3).float()
    bce = F.binary_cross_entropy_with_logits(logits, y)
    assert torch.allclose(focal_loss(logits, y, alpha=0.5, gamma=0.0), 0.5 * bce, rtol=1e-6)
    # numpy version against the cross-entropy written out
    p = torch.sigmoid(logits).double().numpy()
    yn = y.numpy()
    bce_np = -(yn * np.log(p) + (1 - yn) * np.log(1 - p))
    assert np.allclose(focal_loss_numpy(p, yn, 0.5, 0.0), 0.5 * bce_np, rtol=1e-9)


def test_focal_loss_by_hand_and_torch_equals_numpy():
    # p = 0.9: an easy positive and a hard negative, alpha 0.8, gamma 2
    logit = torch.tensor([np.log(9.0), np.log(9.0)], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0], dtype=torch.float64)
    got = focal_loss(logit, y, 0.8, 2.0, reduction="none").numpy()
    hand = [-0.8 * 0.1**2 * np.log(0.9), -0.2 * 0.9**2 * np.log(0.1)]
    assert np.allclose(got, hand, rtol=1e-12)
    assert np.allclose(focal_loss_numpy(np.array([0.9, 0.9]), np.array([1, 0]), 0.8, 2.0), hand)
    rng = np.random.default_rng(1)
    lg = rng.normal(0, 3, 500)
    yy = (rng.random(500) < 0.2).astype(float)
    for a, gm in ((0.25, 2.0), (0.8, 1.0), (0.6, 3.5)):
        t = focal_loss(torch.from_numpy(lg), torch.from_numpy(yy), a, gm, "none").numpy()
        assert np.allclose(t, focal_loss_numpy(1 / (1 + np.exp(-lg)), yy, a, gm), rtol=1e-8)
    # focusing: relative to the weighted BCE, easy examples lose more weight than hard ones
    easy, hard = (
        focal_loss_numpy(np.array([0.95]), np.array([1]), 0.5, 2.0),
        focal_loss_numpy(np.array([0.3]), np.array([1]), 0.5, 2.0),
    )
    assert easy / (-0.5 * np.log(0.95)) < hard / (-0.5 * np.log(0.3))
    with pytest.raises(ValueError, match="target"):
        focal_loss(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="alpha"):
        focal_loss_numpy(np.zeros(2) + 0.5, np.zeros(2), 1.5, 2.0)


@pytest.mark.parametrize("shape", [(13, 21), (7, 9), (5, 5), (3, 17), (32, 32)])
def test_unet_keeps_any_frame_size(shape):
    net = UNet((2, 4, 8), prior=0.05)
    out = net(torch.randn(2, 1, *shape))
    assert out.shape == (2, 1, *shape)
    p = predict_unet(net, np.zeros((3, *shape), np.float32))
    assert p.shape == (3, *shape) and p.dtype == np.float32
    assert np.all((p > 0) & (p < 1))


def test_unet_head_starts_at_the_prior():
    net = UNet((2, 4), prior=0.02)
    assert float(net.head.bias.detach()) == pytest.approx(np.log(0.02 / 0.98))
    with torch.no_grad():
        net.head.weight.zero_()
    p = predict_unet(net, np.random.default_rng(0).normal(size=(1, 16, 16)).astype(np.float32))
    assert np.allclose(p, 0.02, rtol=1e-5)


def blob_frames(n, size=32, seed=0):
    """Gaussian spots of 3 px sigma, 40 counts peak, on unit noise: input and 0/1 target."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    x = rng.normal(size=(n, size, size)).astype(np.float32)
    y = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        if i % 3 == 2:
            continue  # a third of the frames are noise only
        cy, cx = rng.uniform(6, size - 6, 2)
        spot = 4.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 3.0**2))
        x[i] += spot
        y[i] = spot > 0.5
    return np.arcsinh(x), y


SMALL = UNetConfig(channels=(4, 8), patch=16, patches_per_frame=3, max_epochs=3, batch_size=8)


def test_training_is_deterministic_with_a_seed():
    x, y = blob_frames(12)
    a, ha = train_unet(x[:9], y[:9], x[9:], y[9:], SMALL, seed=3)
    b, hb = train_unet(x[:9], y[:9], x[9:], y[9:], SMALL, seed=3)
    c, _ = train_unet(x[:9], y[:9], x[9:], y[9:], SMALL, seed=4)

    def strip(h):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in h]

    assert strip(ha) == strip(hb) and len(ha) == 3
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert any(
        not torch.equal(va, vc)
        for va, vc in zip(a.state_dict().values(), c.state_dict().values(), strict=True)
    )
    # the flagged epoch is the one of the lowest validation loss
    best = [r for r in ha if r["best"]]
    assert len(best) == 1 and best[0]["val_loss"] == min(r["val_loss"] for r in ha)


def test_unet_learns_spots_better_than_a_pixel_threshold():
    x, y = blob_frames(60, seed=1)
    xt, yt = blob_frames(15, seed=2)
    cfg = UNetConfig(channels=(4, 8), patch=16, patches_per_frame=6, max_epochs=8, lr=1e-2)
    model, hist = train_unet(x[:50], y[:50], x[50:], y[50:], cfg, seed=0)
    assert hist[-1]["val_loss"] < hist[0]["val_loss"]
    p = predict_unet(model, xt)

    def f1(sel):
        tp = (sel & (yt == 1)).sum()
        return 2 * tp / (sel.sum() + yt.sum())

    best_cut = max(f1(xt > c) for c in np.linspace(0.2, 3.0, 29))  # any threshold on the pixel
    assert f1(p > 0.5) > best_cut + 0.1


def test_early_stopping_and_bad_input(tmp_path):
    x, y = blob_frames(8)
    cfg = UNetConfig(channels=(2, 4), patch=16, max_epochs=20, patience=1, lr=0.5)
    _, hist = train_unet(x[:6], y[:6], x[6:], y[6:], cfg, seed=0)
    best = int(np.argmin([r["val_loss"] for r in hist]))
    assert len(hist) <= 20 and len(hist) - 1 - best <= 1
    with pytest.raises(ValueError, match="y_train"):
        train_unet(x[:6], y[:5], x[6:], y[6:], cfg)
    with pytest.raises(ValueError, match="patch"):
        train_unet(x[:6, :8, :8], y[:6, :8, :8], x[6:], y[6:], cfg)
    with pytest.raises(ValueError, match="0 / 1"):
        train_unet(x[:6], y[:6] * 2, x[6:], y[6:], cfg)
    with pytest.raises(ValueError, match="alpha"):
        UNetConfig(alpha=4.0)
    with pytest.raises(ValueError, match="patch"):
        UNetConfig(channels=(4, 8, 16), patch=18)
    model = UNet((2, 4))
    path = save_unet(tmp_path / "unet.pt", model, {"threshold": 0.4})
    back, meta = load_unet(path)
    assert meta == {"threshold": 0.4}
    z = x[:2]
    assert np.array_equal(predict_unet(model, z), predict_unet(back, z))
    with pytest.raises(ValueError, match="no such"):
        load_unet(tmp_path / "missing.pt")
