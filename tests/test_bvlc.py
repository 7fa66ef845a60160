import hashlib
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models import GoogLeNet_Weights, googlenet
from torchvision.models.feature_extraction import create_feature_extractor

import model.bvlc as bvlc
from model.bvlc import (
    BVLC_URL,
    CAFFE_LAYER_NAMES,
    CAFFE_PREPROCESS,
    BvlcChecksumError,
    BvlcWeightsError,
    BvlcWeightsUnavailableError,
    BVLCGoogLeNet,
    build_bvlc_googlenet,
    caffe_input,
    load_bvlc_googlenet,
    rgb_from_caffe_input,
    state_dict_from_caffemodel,
)
from model.caffe import CaffeFormatError, CaffeLayer, MissingLayerError, encode_caffemodel, read_caffemodel
from model.synsets import imagenet_wnids, wnid_index

# torchvision warns that eval-mode graphs skip the aux heads; true of its own GoogLeNet too.
pytestmark = pytest.mark.filterwarnings("ignore:NOTE. The nodes obtained by tracing")

REAL_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "images" / "real"
INCEPTIONS = ["inception3a", "inception3b", "inception4a", "inception4b", "inception4c", "inception4d",
              "inception4e", "inception5a", "inception5b"]
# Szegedy et al. 2014, Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj, and params (K).
TABLE_1 = {
    "inception3a": (64, 96, 128, 16, 32, 32, 159),
    "inception3b": (128, 128, 192, 32, 96, 64, 380),
    "inception4a": (192, 96, 208, 16, 48, 64, 364),
    "inception4b": (160, 112, 224, 24, 64, 64, 437),
    "inception4c": (128, 128, 256, 24, 64, 64, 463),
    "inception4d": (112, 144, 288, 32, 64, 64, 580),
    "inception4e": (256, 160, 320, 32, 128, 128, 840),
    "inception5a": (256, 160, 320, 32, 128, 128, 1072),
    "inception5b": (384, 192, 384, 48, 128, 128, 1388),
}
STAGES = {  # Table 1, output size (channels x height x width)
    "conv1": (64, 112, 112), "maxpool1": (64, 56, 56), "conv3": (192, 56, 56), "maxpool2": (192, 28, 28),
    "inception3a": (256, 28, 28), "inception3b": (480, 28, 28), "maxpool3": (480, 14, 14),
    "inception4a": (512, 14, 14), "inception4b": (512, 14, 14), "inception4c": (512, 14, 14),
    "inception4d": (528, 14, 14), "inception4e": (832, 14, 14), "maxpool4": (832, 7, 7),
    "inception5a": (832, 7, 7), "inception5b": (1024, 7, 7), "avgpool": (1024, 1, 1), "fc": (1000,),
}


@pytest.fixture(scope="module")
def net() -> BVLCGoogLeNet:
    return build_bvlc_googlenet(seed=0)


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return caffe_input(torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)))


@pytest.fixture(scope="module")
def features(net, image) -> dict[str, torch.Tensor]:
    nodes = list(STAGES) + [f"{m}.branch{i}" for m in INCEPTIONS for i in (1, 2, 3, 4)]
    with torch.no_grad():
        return create_feature_extractor(net, {n: n for n in nodes})(image)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, BVLCGoogLeNet]:
    """A .caffemodel with BVLC GoogLeNet's layer names and shapes, written from a seeded model's weights."""
    source = build_bvlc_googlenet(seed=1)
    modules = dict(source.named_modules())
    layers = [CaffeLayer("data", "Data", ()), CaffeLayer("pool1/3x3_s2", "Pooling", ())]
    for caffe_name, module_name in CAFFE_LAYER_NAMES.items():
        module = modules[module_name]
        kind = "InnerProduct" if isinstance(module, nn.Linear) else "Convolution"
        layers.append(CaffeLayer(caffe_name, kind, (module.weight.detach().numpy(), module.bias.detach().numpy())))
    layers.append(CaffeLayer("loss3/loss3", "SoftmaxWithLoss", ()))
    path = tmp_path_factory.mktemp("caffe") / "synthetic_googlenet.caffemodel"
    path.write_bytes(encode_caffemodel(layers))
    return path, source


def test_stage_shapes_match_table_1(features):
    for name, shape in STAGES.items():
        assert tuple(features[name].shape) == (1, *shape), name


def test_branches_are_the_table_1_filters_and_concatenate_to_the_module(features):
    for name in INCEPTIONS:
        n1x1, _, n3x3, _, n5x5, pool_proj, _ = TABLE_1[name]
        branches = [features[f"{name}.branch{i}"] for i in (1, 2, 3, 4)]
        assert [b.shape[1] for b in branches] == [n1x1, n3x3, n5x5, pool_proj]
        assert all(b.min() >= 0 for b in branches)  # post-ReLU
        assert torch.equal(torch.cat(branches, 1), features[name])


def test_parameter_counts_per_inception_module(net):
    for name, (n1, r3, n3, r5, n5, proj, paper_k) in TABLE_1.items():
        module = getattr(net, name)
        cin = module.branch1.conv.in_channels
        weights = cin * n1 + cin * r3 + 9 * r3 * n3 + cin * r5 + 25 * r5 * n5 + cin * proj
        biases = n1 + r3 + n3 + r5 + n5 + proj
        assert sum(p.numel() for p in module.parameters()) == weights + biases, name
        # Table 1's own params column does not follow exactly from its filter columns (4c: 463K printed,
        # 509K implied by its filters; the others within 5%), so it is only checked loosely.
        assert abs((weights + biases) / 1000 - paper_k) / paper_k < 0.11, name


def test_structure_is_caffe_like_and_hookable(net):
    modules = list(net.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in modules)
    relus = [m for m in modules if isinstance(m, nn.ReLU)]
    assert len(relus) == 3 + 9 * 6 + 2 * 2 and not any(m.inplace for m in relus)
    assert all(m.bias is not None for m in modules if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert all(getattr(net, n).branch3[1].conv.kernel_size == (5, 5) for n in INCEPTIONS)
    assert net.dropout.p == 0.4 and net.aux1.dropout.p == 0.7 and net.aux2.dropout.p == 0.7
    assert not net.training


def test_lrn_matches_caffe_hand_computed(net):
    # Caffe ACROSS_CHANNELS: x / (1 + alpha/size * sum of x^2 over the 5 channels around c, zero padded)^beta.
    x = torch.tensor([100.0, 0, 0, 50, 0, 200]).view(1, 6, 1, 1)
    expected = torch.tensor([
        100 * (1 + 1e-4 / 5 * 100**2) ** -0.75,  # channel 0 sees channels 0-2
        0, 0,
        50 * (1 + 1e-4 / 5 * (50**2 + 200**2)) ** -0.75,  # channel 3 sees 1-5, not 0
        0,
        200 * (1 + 1e-4 / 5 * (50**2 + 200**2)) ** -0.75,
    ]).view(1, 6, 1, 1)
    for lrn in (net.lrn1, net.lrn2):
        assert torch.allclose(lrn(x), expected, rtol=1e-6)


def test_pooling_rounds_up_like_caffe(net):
    x = torch.arange(36.0).view(1, 1, 6, 6)
    # 3x3 stride 2 on 6x6: windows start at 0, 2, 4; the last one is clipped (floor mode would give 2x2).
    assert net.maxpool1(x).squeeze().tolist() == [[14, 16, 17], [26, 28, 29], [32, 34, 35]]
    assert net.maxpool1(torch.zeros(1, 1, 112, 112)).shape[-1] == 56
    # Aux heads: 5x5 stride 3 average on 14x14 → 4x4, windows start at 0, 3, 6, 9.
    grid = torch.arange(196.0).view(1, 1, 14, 14)
    expected = [[14 * (r + 2) + (c + 2) for c in (0, 3, 6, 9)] for r in (0, 3, 6, 9)]
    assert net.aux1.avgpool(grid).squeeze().tolist() == expected


def test_forward_heads_and_training_outputs(net, image, features):
    with torch.no_grad():
        logits = net(image)
        assert torch.equal(logits, features["fc"])
        assert net.aux1(features["inception4a"]).shape == (1, 1000)
        assert net.aux2(features["inception4d"]).shape == (1, 1000)
        net.train()
        try:
            out = net(image)
        finally:
            net.eval()
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")  # torchvision's GoogLeNetOutputs
    assert [tuple(o.shape) for o in out] == [(1, 1000)] * 3


def test_feature_extractor_nodes_match_torchvision(net):
    nodes = {"inception3a.branch1": "b1", "inception4a": "i4a", "inception4d": "i4d", "fc": "fc", "conv1": "c1"}
    ours = create_feature_extractor(net, nodes)
    theirs = create_feature_extractor(googlenet(weights=None, aux_logits=True, init_weights=False).eval(), nodes)
    small = torch.zeros(1, 3, 96, 96)  # any size: in eval mode neither model runs its fixed-size aux heads
    with torch.no_grad():
        a, b = ours(small), theirs(small)
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}


def test_synthetic_caffemodel_converts_and_reproduces_logits(synthetic, image):
    path, source = synthetic
    state = state_dict_from_caffemodel(read_caffemodel(path))
    assert set(state) == set(source.state_dict())
    model, provenance = load_bvlc_googlenet(path)
    assert provenance["kind"] == "bvlc" and provenance["aux_trained"] is True and provenance["source"] == str(path)
    with torch.no_grad():
        assert torch.allclose(model(image), source(image), rtol=1e-5, atol=1e-5)
    v1 = read_caffemodel(encode_caffemodel(list(read_caffemodel(path).values()), v1=True))
    assert all(torch.equal(t, state[k]) for k, t in state_dict_from_caffemodel(v1).items())


def test_missing_layer_and_wrong_shape_are_clear_errors(synthetic, tmp_path):
    layers = read_caffemodel(synthetic[0])
    with pytest.raises(MissingLayerError, match="no layer named 'loss2/fc'"):
        state_dict_from_caffemodel({k: v for k, v in layers.items() if k != "loss2/fc"})
    bad = dict(layers)
    bad["inception_4c/5x5"] = CaffeLayer("inception_4c/5x5", "Convolution", (np.zeros((64, 24, 3, 3), np.float32),
                                                                              np.zeros(64, np.float32)))
    with pytest.raises(CaffeFormatError, match=r"'inception_4c/5x5' weight has shape \(64, 24, 3, 3\), expected \(64, 24, 5, 5\)"):
        state_dict_from_caffemodel(bad)
    path = tmp_path / "partial.caffemodel"
    path.write_bytes(encode_caffemodel([v for k, v in layers.items() if k != "loss1/classifier"]))
    with pytest.raises(BvlcWeightsError, match="no layer named 'loss1/classifier'"):
        load_bvlc_googlenet(path)


def test_offline_first_use_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "urlopen", offline)
    with pytest.raises(BvlcWeightsUnavailableError) as err:
        load_bvlc_googlenet(progress=False)
    message = str(err.value)
    target = tmp_path / "hub" / "checkpoints" / "bvlc_googlenet.caffemodel"
    for part in ("no route to host", "Missing file: bvlc_googlenet.caffemodel", BVLC_URL, f"put it at {target}",
                 "--model torchvision", "--weights random"):
        assert part in message
    assert "Traceback" not in message and not target.exists()


def test_sha1_mismatch(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    target = tmp_path / "hub" / "checkpoints" / "bvlc_googlenet.caffemodel"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the weights")
    with pytest.raises(BvlcChecksumError, match=f"its SHA-1 is {hashlib.sha1(b'not the weights').hexdigest()}"):
        load_bvlc_googlenet(progress=False)
    assert target.exists()  # the user's file is left alone
    target.unlink()

    def damaged_download(url, dst, hash_prefix=None, progress=True):
        Path(dst).write_bytes(b"<html>proxy error</html>")

    monkeypatch.setattr(torch.hub, "download_url_to_file", damaged_download)
    with pytest.raises(BvlcChecksumError, match="damaged and has been deleted"):
        load_bvlc_googlenet(progress=False)
    assert not target.exists()


def test_download_converts_once_then_loads_the_pth(synthetic, tmp_path, monkeypatch):
    path, source = synthetic
    data = path.read_bytes()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(bvlc, "BVLC_SHA1", hashlib.sha1(data).hexdigest())
    calls = []

    def download(url, dst, hash_prefix=None, progress=True):
        calls.append(url)
        Path(dst).write_bytes(data)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    first, provenance = load_bvlc_googlenet(progress=False)
    converted = tmp_path / "hub" / "checkpoints" / f"bvlc_googlenet-{bvlc.BVLC_SHA1[:8]}.pth"
    assert calls == [BVLC_URL] and converted.is_file() and provenance["source"] == BVLC_URL
    (tmp_path / "hub" / "checkpoints" / "bvlc_googlenet.caffemodel").unlink()
    second, _ = load_bvlc_googlenet(progress=False)
    assert calls == [BVLC_URL]
    expected = source.state_dict()
    assert all(torch.equal(t, expected[k]) for k, t in second.state_dict().items())
    assert all(torch.equal(t, expected[k]) for k, t in first.state_dict().items())


def test_seeded_build_is_reproducible():
    a, b, c = build_bvlc_googlenet(seed=3), build_bvlc_googlenet(seed=3), build_bvlc_googlenet(seed=4)
    assert torch.equal(a.conv1.conv.weight, b.conv1.conv.weight)
    assert not torch.equal(a.conv1.conv.weight, c.conv1.conv.weight)
    assert torch.equal(a.conv1.conv.bias.unique(), torch.tensor([0.2])) and a.fc.bias.abs().sum() == 0
    bound = (3 / (3 * 7 * 7)) ** 0.5  # Caffe's xavier: uniform(+-sqrt(3 / fan_in))
    assert a.conv1.conv.weight.abs().max() <= bound


def test_caffe_preprocessing():
    assert CAFFE_PREPROCESS.channel_order == "BGR" and CAFFE_PREPROCESS.mean == (104.0, 117.0, 123.0)
    assert (CAFFE_PREPROCESS.resize, CAFFE_PREPROCESS.crop, CAFFE_PREPROCESS.scale) == ((256, 256), 224, 255.0)
    rgb = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    x = caffe_input(rgb)
    assert x.flatten().tolist() == [0 - 104.0, 127.5 - 117.0, 255 - 123.0]  # B, G, R
    assert torch.allclose(rgb_from_caffe_input(x), rgb)


def test_wnids_are_caffe_order_and_agree_with_torchvision():
    wnids = imagenet_wnids()
    assert len(wnids) == 1000 and len(set(wnids)) == 1000
    assert list(wnids) == sorted(wnids)  # synset_words.txt order
    categories = GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"]
    anchors = {0: ("n01440764", "tench"), 1: ("n01443537", "goldfish"), 281: ("n02123045", "tabby"),
               290: ("n02128925", "jaguar"), 999: ("n15075141", "toilet tissue")}
    for index, (wnid, name) in anchors.items():
        assert wnids[index] == wnid and wnid_index(wnid) == index and categories[index] == name
    with pytest.raises(KeyError, match="not one of the 1000"):
        wnid_index("n00000000")


def test_photo_wnids_map_to_torchvision_names():
    photos = sorted(REAL_PHOTOS.glob("*.JPEG")) if REAL_PHOTOS.is_dir() else []
    if not photos:
        pytest.skip("../shared/images/real is not present (a fresh clone has no ../shared)")
    categories = GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"]
    assert len(photos) == 30
    for photo in photos:
        wnid, name = photo.stem.split("_", 1)
        assert categories[wnid_index(wnid)] == name.replace("_", " "), photo.name


@pytest.mark.parametrize("content", [b"", b"half a download", b"PK\x03\x04garbage"])
def test_damaged_local_weights_file_is_a_clear_error(tmp_path, content):
    """torch.load raises KeyError, EOFError, ... for such files: all must become the plain BvlcWeightsError."""
    from model.bvlc import BvlcWeightsError, load_bvlc_googlenet

    path = tmp_path / "bvlc.pth"
    path.write_bytes(content)
    with pytest.raises(BvlcWeightsError, match="bvlc.pth"):
        load_bvlc_googlenet(path)
