"""Figures that explain themselves (issue 24, part 6): layers named for people, the crop and the ROI
stated, the ROI where the content is, the padding border of a spatial gate marked and captioned."""

from __future__ import annotations

import numpy as np
import torch

from sarcomp.interpret.captions import Crop, choose_roi, label, layer_names, padding_border
from sarcomp.interpret.explain import ExplainOptions, explain_run, explain_tile
from sarcomp.models.autoencoder import SARCodec
from sarcomp.models.linear_path import LinearPathSARCodec
from tests.helpers import write_tif

CBAM = {"type": "cbam", "placement": "bottleneck"}


def _caption(fig) -> str:
    return fig._supxlabel.get_text().replace("\n", " ")


def test_layers_have_human_names():
    names = layer_names(SARCodec(channels=(8, 8, 8), latent_channels=8, attention=CBAM))
    assert names["g_a.4"] == "bottleneck attention on the latent y, before quantisation (g_a.4)"
    assert names["g_s.0"] == "decoder entry attention on the decoded latent ŷ (g_s.0)"
    assert names["g_a.3"] == "encoder output block 4 (to the latent y) (g_a.3)"
    assert names["g_s.1"] == "decoder block 1 (g_s.1)"
    assert (
        label(names, "g_s.0.spatial")
        == "decoder entry attention on the decoded latent ŷ (g_s.0), spatial gate"
    )
    every = layer_names(
        SARCodec(channels=(8, 8), latent_channels=8, attention={**CBAM, "placement": "everywhere"})
    )
    assert every["g_a.1"] == "encoder attention after block 1 (g_a.1)" and every["g_s.2"].startswith(
        "decoder attention after block 1"
    )


def test_the_linear_path_codec_names_its_deep_blocks_and_linear_path():
    names = layer_names(LinearPathSARCodec(channels=(8,), latent_channels=16, lmbdas=[0.01, 0.1]))
    assert names["g_a.deep.1"] == "encoder output block 2 (to the latent y) of the deep path (g_a.deep.1)"
    assert names["g_s.deep.0"] == "decoder block 1 of the deep path (g_s.deep.0)"
    assert names["g_a.linear"] == "encoder linear path (g_a.linear)"
    assert label(names, "g_a.deep.1.0") == names["g_a.deep.1"] + ", 0 gate"  # the longest holder
    assert label(names, "g_s.linear") == "decoder linear path (g_s.linear)"


def test_the_roi_goes_where_the_content_is_not_to_a_bright_corner():
    x = torch.full((1, 1, 128, 128), 0.3)
    x[..., 60:84, 50:74] = torch.rand(24, 24, generator=torch.Generator().manual_seed(0))  # texture
    x[..., 0:3, 125:128] = 1.0  # one bright corner pixel block: the old rule centred the ROI there
    (r, c, h, w), why = choose_roi(x, margin=16)
    assert (h, w) == (32, 32) and 16 <= r <= 128 - 16 - 32 and 16 <= c <= 128 - 16 - 32
    assert r <= 60 < r + h and c <= 50 < c + w  # overlaps the textured patch
    assert "highest local standard deviation" in why and "16 px from the tile edge" in why


def test_figures_state_crop_roi_and_the_padding_border():
    torch.manual_seed(0)
    model = SARCodec(channels=(8, 8, 8), latent_channels=8, attention=CBAM).eval()
    x = torch.rand(1, 1, 128, 128)
    assert padding_border(model, "g_s.0.spatial", 8, 128) == (3, 48)  # 7x7 conv on an 8-cell map
    crop = Crop("scene.tif", (300, 400), (86, 136, 128, 128))
    opts = ExplainOptions(augmented=False, rise=False, distribution=False)
    figs, summary = explain_tile(model, x, opts=opts, crop=crop)
    where = "scene.tif: centre crop 128 x 128 px (rows 86-213, cols 136-263) of the 300 x 400 px scene"
    assert all(where in _caption(f) for f in figs.values()), {k: _caption(f)[:90] for k, f in figs.items()}
    spatial = _caption(figs["attention_spatial"])
    assert "outer 3 cells" in spatial and "48 px" in spatial and "edge effect of the padding" in spatial
    assert any(p.get_linestyle() == "--" for ax in figs["attention_spatial"].axes for p in ax.patches)
    r, c, h, w = summary["roi"]
    cam = _caption(figs["gradcam_distortion"])
    assert f"ROI rows {r}-{r + h - 1}, cols {c}-{c + w - 1} of the tile; in the scene: rows {86 + r}-" in cam
    assert "heat outside the ROI is expected" in cam and summary["roi_rule"].startswith(
        "ROI chosen automatically"
    )
    titles = [ax.get_title() for ax in figs["gradcam_distortion"].axes]
    assert any("bottleneck attention" in t for t in titles)


def test_explain_script_takes_a_shipped_model(tmp_path):
    rng = np.random.default_rng(0)
    image = write_tif(tmp_path / "scene.tif", (0.05 * rng.gamma(2.0, 1.0, (96, 112))).astype(np.float32))
    opts = ExplainOptions(augmented=False, rise=False)
    paths = explain_run("v1-cbam-l0067", image, tmp_path / "out", crop=64, opts=opts)
    assert {p.name for p in paths} >= {"attention_spatial.png", "gradcam_distortion.png", "explain.json"}
    assert not (tmp_path / "v1-cbam-l0067").exists()  # no run folder, no TensorBoard
