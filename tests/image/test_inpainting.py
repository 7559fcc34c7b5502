"""Inpainting: mask builders, mask files, the conditioned sampling path on a tiny model, the CLI and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from proteindsm.cli import main
from proteindsm.core import AnnealedLangevin, GeometricSchedule
from proteindsm.errors import InputError
from proteindsm.image.classifier import ClassifierConfig, ImageClassifier
from proteindsm.image.inpainting import (MODES, build_mask, check_mask, inpaint_images, inpainting_metrics,
                                         load_mask_file, masked_view)
from proteindsm.image.sampling import sample_images
from proteindsm.image.unet import ImageUNet, UNetConfig

SCHED = GeometricSchedule(0.01, 5.0, num_levels=3)
SAMPLER = AnnealedLangevin(eps=2e-5, steps_per_level=2)


def tiny() -> ImageUNet:
    torch.manual_seed(0)
    return ImageUNet(UNetConfig(channels=8, emb_dim=32, groups=4))


def images(n: int = 6, shape=(1, 8, 8)) -> torch.Tensor:
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(5))


# ------------------------------------------------------------------------------------ mask builders
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 28, 28), (1, 7, 9)])
@pytest.mark.parametrize("mode", MODES)
def test_masks_have_the_image_shape_and_share_pixels_across_channels(mode, shape):
    m = build_mask(mode, shape, num=3, seed=1)
    assert m.shape == (3, *shape) and m.dtype == torch.bool
    assert torch.equal(m, m[:, :1].expand_as(m))
    assert m.any() and (~m).any(dim=(1, 2, 3)).all()


def test_each_mode_hides_the_region_it_names():
    left = build_mask("left_half", (1, 8, 8))[0, 0]
    assert not left[:, :4].any() and left[:, 4:].all()
    top = build_mask("top_half", (1, 8, 8))[0, 0]
    assert not top[:4].any() and top[4:].all()
    centre = build_mask("centre", (1, 8, 8))[0, 0]
    assert not centre[2:6, 2:6].any() and int(centre.sum()) == 64 - 16
    assert float((~build_mask("centre", (1, 28, 28))).float().mean()) == pytest.approx(14 * 14 / 784)
    for mode in ("left_half", "top_half"):
        assert float(build_mask(mode, (1, 8, 8)).float().mean()) == 0.5


def test_random_masks_hide_the_fraction_and_are_seeded_per_image():
    m = build_mask("random", (1, 8, 8), num=5, fraction=0.25, seed=3)
    assert ((~m[:, 0]).sum(dim=(1, 2)) == 16).all()
    assert not torch.equal(m[0], m[1])                             # each image its own mask
    assert torch.equal(m[:2], build_mask("random", (1, 8, 8), num=2, fraction=0.25, seed=3))
    assert not torch.equal(m, build_mask("random", (1, 8, 8), num=5, fraction=0.25, seed=4))
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(InputError, match="fraction"):
            build_mask("random", (1, 8, 8), fraction=bad)


def test_unknown_mode_is_an_input_error():
    with pytest.raises(InputError, match="left_half, top_half, centre, random"):
        build_mask("bottom", (1, 8, 8))


# ------------------------------------------------------------------------------------ mask files
def test_mask_files_npy_and_png(tmp_path):
    from PIL import Image

    arr = np.zeros((8, 8), np.float32)
    arr[:, 4:] = 0.7                                               # nonzero = known
    np.save(tmp_path / "m.npy", arr)
    m = load_mask_file(tmp_path / "m.npy", (1, 8, 8))
    assert m.shape == (1, 8, 8) and torch.equal(m, build_mask("left_half", (1, 8, 8))[0])
    Image.fromarray((arr > 0).astype(np.uint8) * 255).save(tmp_path / "m.png")
    assert torch.equal(load_mask_file(tmp_path / "m.png", (3, 8, 8)), build_mask("left_half", (3, 8, 8))[0])


@pytest.mark.parametrize("name, content, match", [
    ("gone.npy", None, "file not found"),
    ("m.txt", "x", ".npy array or a .png"),
    ("wrong.npy", np.ones((4, 4)), "does not match"),
    ("nan.npy", np.full((8, 8), np.nan), "finite"),
    ("all.npy", np.ones((8, 8)), "nothing to inpaint"),
    ("none.npy", np.zeros((8, 8)), "no pixel is known"),
    ("junk.npy", b"not an array", "readable"),
    ("junk.png", b"not a png", "readable PNG"),
])
def test_bad_mask_files_are_one_input_error(tmp_path, name, content, match):
    p = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(p, content)
    elif isinstance(content, bytes):
        p.write_bytes(content)
    elif isinstance(content, str):
        p.write_text(content)
    with pytest.raises(InputError, match=match):
        load_mask_file(p, (1, 8, 8))


def test_check_mask_accepts_hw_and_chw():
    hw = torch.ones(8, 8, dtype=torch.bool)
    hw[0, 0] = False
    assert check_mask(hw, (3, 8, 8)).shape == (3, 8, 8)
    assert check_mask(hw[None], (3, 8, 8)).shape == (3, 8, 8)
    with pytest.raises(InputError, match="image size"):
        check_mask(hw[None].expand(2, 8, 8), (3, 8, 8))


# ------------------------------------------------------------------------------------ the sampling path
def test_replacement_ends_on_the_known_pixels_and_composite_keeps_them_exactly():
    x = images()
    known = build_mask("left_half", (1, 8, 8), num=len(x))
    raw = inpaint_images(tiny(), SAMPLER, SCHED, x, known, method="replacement", seed=2, batch_size=4,
                         composite=False)
    assert raw.shape == x.shape and torch.isfinite(raw).all()
    assert torch.allclose(raw[known], x[known], atol=1e-5)          # the sampler's own output lands on y
    out = inpaint_images(tiny(), SAMPLER, SCHED, x, known, method="replacement", seed=2, batch_size=4)
    assert torch.equal(out[known], x[known]) and torch.equal(out[~known], raw[~known])
    assert out.min() >= 0 and out.max() <= 1


def test_reconstruction_runs_and_pulls_toward_the_known_pixels():
    x = images(4)
    known = build_mask("top_half", (1, 8, 8), num=len(x))
    free = inpaint_images(tiny(), SAMPLER, SCHED, x, known, method="none", seed=2, composite=False)
    rec = inpaint_images(tiny(), SAMPLER, SCHED, x, known, method="reconstruction", seed=2, composite=False,
                         scale=1.0, sigma_data=0.5)
    assert rec.shape == x.shape and torch.isfinite(rec).all()
    err = lambda y: float((y - x).abs()[known].mean())  # noqa: E731
    assert err(rec) < err(free)
    # method none = the unconditional sampler from the same noise
    assert torch.equal(free, sample_images(tiny(), SAMPLER, SCHED, 4, (1, 8, 8), seed=2, batch_size=500))


def test_shared_mask_and_bad_method():
    x = images(3)
    out = inpaint_images(tiny(), SAMPLER, SCHED, x, build_mask("centre", (1, 8, 8))[0], seed=0)
    assert out.shape == x.shape
    with pytest.raises(InputError, match="inpaint_method"):
        inpaint_images(tiny(), SAMPLER, SCHED, x, build_mask("centre", (1, 8, 8))[0], method="paste")
    with pytest.raises(InputError, match="does not match"):
        inpaint_images(tiny(), SAMPLER, SCHED, x, torch.ones(3, 1, 4, 4, dtype=torch.bool))


def test_metrics_and_masked_view():
    x = images(6)
    known = build_mask("left_half", (1, 8, 8), num=6)
    torch.manual_seed(0)
    clf = ImageClassifier(ClassifierConfig(width=8, feature_dim=16))
    y = torch.arange(6) % 10
    m = inpainting_metrics(x, known, x, labels=y, classifier=clf, unconditional=torch.zeros_like(x))
    assert m["mse_hidden"] == 0.0 and m["mse_hidden_unconditional"] == pytest.approx(float((x[~known] ** 2).mean()))
    assert m["known_fraction"] == 0.5 and m["label_kept"] == m["classifier_accuracy"]
    assert sum(m["class_hist"]) == 6 and 0 <= m["label_kept_unconditional"] <= 1
    v = masked_view(x, known)
    assert v.shape == (6, 3, 8, 8) and torch.equal(v[:, 0][known[:, 0]], x[:, 0][known[:, 0]])


# ------------------------------------------------------------------------------------ the command
TINY = ["dataset=digits", "progress=false", "device=cpu", "threads=1", "model.channels=8", "model.emb_dim=32",
        "model.groups=4", "train.max_steps=2", "train.val_every=100", "train.log_every=1", "train.warmup_steps=1",
        "metrics.enabled=false", "metrics.track_raw=false", "metrics.steps_per_level=1", "sampler.steps_per_level=2",
        "sampler.num_levels=3", "sampling.num_samples=4", "classifier.width=8", "classifier.feature_dim=16",
        "classifier.steps=10", "inpainting.num_images=12", "inpainting.grid=8"]


def test_image_command_inpaints_and_writes_grid_and_metrics(tmp_path):
    out = tmp_path / "run"
    assert main(["image", f"out={out}", *TINY, "inpaint=left_half", "inpaint_method=replacement"]) == 0  # trains, inpaints
    lines = (out / "metrics.jsonl").read_text().splitlines()
    summary = json.loads((out / "metrics.json").read_text())
    (e,) = summary["inpainting"]
    assert e["tag"] == "left_half_replacement" and e["method"] == "replacement" and e["mode"] == "left_half"
    assert e["num_images"] == 12 and e["known_fraction"] == 0.5 and e["known_pixel_max_error"] < 1e-4
    for key in ("label_kept", "label_kept_unconditional", "mse_hidden", "mse_hidden_unconditional",
                "classifier_accuracy", "label_kept_visible_only"):
        assert 0.0 <= e[key] <= 1.0, key
    assert (out / "inpaint_left_half_replacement.png").is_file() and (out / "inpainting_unconditional.pt").is_file()
    # a mask file with the other mechanism: the trained model is reused, not retrained; entries accumulate
    arr = np.ones((8, 8), np.uint8)
    arr[2:6, 2:6] = 0
    np.save(tmp_path / "hole.npy", arr)
    assert main(["image", f"out={out}", *TINY, f"inpaint_mask={tmp_path / 'hole.npy'}",
                 "inpaint_method=reconstruction"]) == 0
    assert (out / "metrics.jsonl").read_text().splitlines() == lines
    summary = json.loads((out / "metrics.json").read_text())
    assert [e["tag"] for e in summary["inpainting"]] == ["left_half_replacement", "mask-hole_reconstruction"]
    e = summary["inpainting"][-1]
    assert e["known_fraction"] == 0.75 and e["options"]["scale"] == 1.0 and e["mask_file"].endswith("hole.npy")
    assert (out / "inpaint_mask-hole_reconstruction.png").is_file()


@pytest.mark.parametrize("args, match", [
    (["inpaint=bottom_half"], "inpaint must be one of"),
    (["inpaint=left_half", "inpaint_method=paste"], "inpaint_method"),
    (["inpaint_mask=MISSING.npy"], "file not found"),
    (["inpaint_mask=WRONG"], "does not match"),
    (["inpaint=centre", "inpaint_mask=WRONG"], "not both"),
    (["inpaint=left_half", "inpainting.num_images=0"], "num_images"),
])
def test_bad_inpainting_input_is_one_line_before_any_model_work(tmp_path, capsys, args, match):
    np.save(tmp_path / "wrong.npy", np.ones((4, 4)))
    args = [a.replace("MISSING", str(tmp_path / "missing")).replace("WRONG", str(tmp_path / "wrong.npy")) for a in args]
    out = tmp_path / "out"
    assert main(["image", f"out={out}", *TINY, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1
    assert not out.exists()                                           # nothing trained, nothing written
