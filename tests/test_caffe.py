import io
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from model.caffe import (
    I32,
    LEN,
    VARINT,
    CaffeFormatError,
    CaffeLayer,
    MissingLayerError,
    _encode_varint,
    _key,
    _len_field,
    encode_caffemodel,
    fit_blob,
    read_caffemodel,
    require_layer,
)

LENET = Path(__file__).resolve().parents[1].parent / "shared" / "caffe" / "lenet-mnist"
LENET_FILE = LENET / "lenet_iter_10000.caffemodel"
# From mnist_deploy.prototxt: conv1 20 5x5 on 1 channel, conv2 50 5x5, ip1 500 (on 50 x 4 x 4), ip2 10.
LENET_SHAPES = {
    "conv1": [(20, 1, 5, 5), (20,)],
    "conv2": [(50, 20, 5, 5), (50,)],
    "ip1": [(500, 800), (500,)],
    "ip2": [(10, 500), (10,)],
}


@pytest.fixture(scope="module")
def lenet_layers():
    if not LENET_FILE.is_file():
        pytest.skip("../shared/caffe/lenet-mnist is not available")
    return read_caffemodel(LENET_FILE)


def lenet_logits(layers, images: torch.Tensor) -> torch.Tensor:
    def blobs(name):
        layer = require_layer(layers, name, blobs=2)
        return [torch.from_numpy(fit_blob(b, s, name)) for b, s in zip(layer.blobs, LENET_SHAPES[name])]

    x = F.max_pool2d(F.conv2d(images, *blobs("conv1")), 2, 2)
    x = F.max_pool2d(F.conv2d(x, *blobs("conv2")), 2, 2)
    x = F.relu(F.linear(torch.flatten(x, 1), *blobs("ip1")))
    return F.linear(x, *blobs("ip2"))


def lenet_samples() -> tuple[torch.Tensor, list[int]]:
    paths = sorted((LENET / "samples").glob("img_*_*.png"))
    assert len(paths) == 10
    # Caffe's MNIST example trains on pixel values scaled by 0.00390625 (1/256), see ../shared/caffe/README.md.
    images = [np.asarray(Image.open(p).convert("L"), dtype=np.float32) * 0.00390625 for p in paths]
    labels = [int(p.stem.split("_")[1]) for p in paths]
    return torch.from_numpy(np.stack(images))[:, None], labels


def test_lenet_layers_and_blob_shapes_match_the_prototxt(lenet_layers):
    assert [n for n, layer in lenet_layers.items() if layer.blobs] == ["conv1", "conv2", "ip1", "ip2"]
    for name, shapes in LENET_SHAPES.items():
        layer = lenet_layers[name]
        assert [b.shape for b in layer.blobs] == shapes
        assert all(b.dtype == np.float32 and np.isfinite(b).all() for b in layer.blobs)
    assert lenet_layers["conv1"].type == "Convolution"
    assert lenet_layers["ip1"].type == "InnerProduct"
    assert lenet_layers["pool1"].type == "Pooling" and lenet_layers["pool1"].blobs == ()
    assert lenet_layers["relu1"].type == "ReLU"


def test_lenet_built_from_the_blobs_classifies_the_samples(lenet_layers):
    images, labels = lenet_samples()
    with torch.no_grad():
        predicted = lenet_logits(lenet_layers, images).argmax(1).tolist()
    assert predicted == labels


def test_v1_layout_reads_to_the_same_tensors(lenet_layers):
    v1 = read_caffemodel(encode_caffemodel(list(lenet_layers.values()), v1=True))
    assert list(v1) == list(lenet_layers)
    for name, layer in lenet_layers.items():
        assert v1[name].type == layer.type
        for old, new in zip(v1[name].blobs, layer.blobs, strict=True):
            assert old.shape == (1,) * (4 - new.ndim) + new.shape  # legacy num x channels x height x width
            assert np.array_equal(old.reshape(new.shape), new)
    images, labels = lenet_samples()
    with torch.no_grad():
        assert lenet_logits(v1, images).argmax(1).tolist() == labels


def test_current_layout_round_trips_through_the_writer(lenet_layers):
    again = read_caffemodel(encode_caffemodel(list(lenet_layers.values())))
    for name, layer in lenet_layers.items():
        assert again[name].type == layer.type
        assert all(np.array_equal(a, b) and a.shape == b.shape for a, b in zip(again[name].blobs, layer.blobs, strict=True))


def test_unpacked_values_double_data_and_legacy_dims():
    floats = b"".join(_key(5, I32) + np.float32(v).tobytes() for v in (1.5, -2.0, 3.25, 0.0, 7.0, 8.0))
    unpacked_dims = _len_field(7, _key(1, VARINT) + _encode_varint(2) + _key(1, VARINT) + _encode_varint(3))
    doubles = _len_field(8, np.array([0.5, 0.25], dtype="<f8").tobytes())
    legacy = b"".join(_key(f, VARINT) + _encode_varint(d) for f, d in zip((1, 2, 3, 4), (1, 1, 1, 2)))
    layer = (
        _len_field(1, b"fc")
        + _len_field(2, b"InnerProduct")
        + _len_field(7, unpacked_dims + floats)
        + _len_field(7, legacy + doubles)
    )
    (blob_a, blob_b) = read_caffemodel(_len_field(100, layer))["fc"].blobs
    assert blob_a.shape == (2, 3) and blob_a.tolist() == [[1.5, -2.0, 3.25], [0.0, 7.0, 8.0]]
    assert blob_b.shape == (1, 1, 1, 2) and blob_b.dtype == np.float32 and blob_b.ravel().tolist() == [0.5, 0.25]


def synthetic_model() -> bytes:
    rng = np.random.default_rng(0)
    layers = [
        CaffeLayer("data", "Data", ()),
        CaffeLayer("conv", "Convolution", (rng.standard_normal((8, 3, 3, 3), dtype=np.float32), np.ones(8, np.float32))),
        CaffeLayer("fc", "InnerProduct", (rng.standard_normal((10, 72), dtype=np.float32), np.zeros(10, np.float32))),
    ]
    return encode_caffemodel(layers)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (np.random.default_rng(1).bytes(4096), ""),
        (png_bytes(), ""),
        (synthetic_model()[: len(synthetic_model()) // 2], "truncated"),
        (b"name: \"LeNet\"\nlayer {\n  name: \"conv1\"\n}\n", ""),  # a .prototxt, not a .caffemodel
    ],
    ids=["empty", "random", "png", "truncated", "prototxt"],
)
def test_not_a_caffemodel_gives_a_plain_error(tmp_path, data, reason):
    path = tmp_path / "model.caffemodel"
    path.write_bytes(data)
    with pytest.raises(CaffeFormatError) as err:
        read_caffemodel(path)
    message = str(err.value)
    assert message.startswith("model.caffemodel is not a Caffe model (.caffemodel) that can be read: ")
    assert reason in message and "\n" not in message and "Traceback" not in message


def test_truncated_real_file_gives_a_plain_error(lenet_layers):
    data = LENET_FILE.read_bytes()
    for cut in (len(data) // 3, len(data) - 7):
        with pytest.raises(CaffeFormatError, match="truncated or damaged"):
            read_caffemodel(data[:cut])


def test_missing_layer_and_wrong_shape_are_named():
    layers = read_caffemodel(synthetic_model())
    with pytest.raises(MissingLayerError, match="no layer named 'ip9'; it has 3 layers \\(data, conv, fc\\)"):
        require_layer(layers, "ip9")
    with pytest.raises(MissingLayerError, match="'data' of the Caffe model holds 0 blobs, expected 2"):
        require_layer(layers, "data", blobs=2)
    with pytest.raises(CaffeFormatError, match=r"conv weight has shape \(8, 3, 3, 3\), expected \(8, 3, 5, 5\)"):
        fit_blob(layers["conv"].blobs[0], (8, 3, 5, 5), "conv weight")
    assert fit_blob(np.zeros((1, 1, 1, 8), np.float32), (8,), "bias").shape == (8,)
