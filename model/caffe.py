"""Read the weights in a Caffe .caffemodel file without Caffe or its compiled caffe_pb2 schema.

A .caffemodel is a NetParameter protobuf. Only each layer's name, type and blobs are decoded, with the field
numbers of BVLC's src/caffe/proto/caffe.proto:
    NetParameter       layer = 100 (LayerParameter), legacy layers = 2 (V1LayerParameter)
    LayerParameter     name = 1, type = 2 (string), blobs = 7
    V1LayerParameter   name = 4, type = 5 (LayerType enum), blobs = 6
    BlobProto          shape = 7 (BlobShape: dim = 1), data = 5, double_data = 8,
                       legacy num = 1, channels = 2, height = 3, width = 4
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class CaffeFormatError(ValueError):
    """The data is not a Caffe model that can be read. `str(err)` is a plain message."""


class MissingLayerError(CaffeFormatError):
    """The Caffe model lacks a layer (or a layer's blobs) that the caller needs."""


@dataclass(frozen=True)
class CaffeLayer:
    name: str
    type: str
    blobs: tuple[np.ndarray, ...]  # float32, shaped as the file says (legacy files: 4-D num x channels x height x width)


VARINT, I64, LEN, I32 = 0, 1, 2, 5

# V1LayerParameter.LayerType values, named as Caffe's own upgrade to the current format names them.
V1_LAYER_TYPES: dict[int, str] = {
    0: "", 1: "Accuracy", 2: "BNLL", 3: "Concat", 4: "Convolution", 5: "Data", 6: "Dropout", 7: "EuclideanLoss",
    8: "Flatten", 9: "HDF5Data", 10: "HDF5Output", 11: "Im2col", 12: "ImageData", 13: "InfogainLoss",
    14: "InnerProduct", 15: "LRN", 16: "MultinomialLogisticLoss", 17: "Pooling", 18: "ReLU", 19: "Sigmoid",
    20: "Softmax", 21: "SoftmaxWithLoss", 22: "Split", 23: "TanH", 24: "WindowData", 25: "Eltwise", 26: "Power",
    27: "SigmoidCrossEntropyLoss", 28: "HingeLoss", 29: "MemoryData", 30: "ArgMax", 31: "Threshold",
    32: "DummyData", 33: "Slice", 34: "MVN", 35: "AbsVal", 36: "Silence", 37: "ContrastiveLoss", 38: "Exp",
    39: "Deconvolution",
}

_TRUNCATED = "it ends in the middle of a record, so it is truncated or damaged"


def read_caffemodel(source: str | os.PathLike | bytes) -> dict[str, CaffeLayer]:
    """Layers by name, in file order. Raises CaffeFormatError for anything that is not a readable .caffemodel."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label = bytes(source), "The data"
    else:
        path = Path(source)
        data, label = path.read_bytes(), path.name
    try:
        return _net(data)
    except CaffeFormatError as err:
        raise CaffeFormatError(f"{label} is not a Caffe model (.caffemodel) that can be read: {err}.") from None


def require_layer(layers: Mapping[str, CaffeLayer], name: str, blobs: int = 0) -> CaffeLayer:
    """The layer called `name` with at least `blobs` blobs, or a MissingLayerError that says what is there."""
    layer = layers.get(name)
    if layer is None:
        shown = ", ".join(list(layers)[:6]) + (", ..." if len(layers) > 6 else "")
        raise MissingLayerError(
            f"The Caffe model has no layer named {name!r}; it has {len(layers)} layers ({shown}). "
            "Is it the model this program expects?"
        )
    if len(layer.blobs) < blobs:
        raise MissingLayerError(f"Layer {name!r} of the Caffe model holds {len(layer.blobs)} blobs, expected {blobs}.")
    return layer


def fit_blob(blob: np.ndarray, shape: Sequence[int], what: str) -> np.ndarray:
    """`blob` as `shape`, accepting the leading 1s of legacy 4-D blobs (a bias stored as 1 x 1 x 1 x N)."""
    shape = tuple(shape)
    if _strip_ones(blob.shape) != _strip_ones(shape):
        raise CaffeFormatError(f"{what} has shape {tuple(blob.shape)}, expected {shape}.")
    return blob.reshape(shape)


def _strip_ones(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def _net(buf: bytes) -> dict[str, CaffeLayer]:
    if not buf:
        raise CaffeFormatError("it is empty")
    layers: dict[str, CaffeLayer] = {}
    count = 0
    for field, wire, start, end in _fields(buf, 0, len(buf)):
        if field in (100, 2):
            _expect(wire, LEN)
            layer = _layer(buf, start, end, v1=field == 2)
            count += 1
            # Train/test variants share a name (two "data" layers); keep the one that holds weights.
            if layer.name not in layers or (layer.blobs and not layers[layer.name].blobs):
                layers[layer.name] = layer
    if not count:
        raise CaffeFormatError("it holds no layers")
    return layers


def _layer(buf: bytes, start: int, end: int, v1: bool) -> CaffeLayer:
    name_field, type_field, blobs_field = (4, 5, 6) if v1 else (1, 2, 7)
    name, type_, blobs = "", "", []
    for field, wire, a, b in _fields(buf, start, end):
        if field == name_field:
            _expect(wire, LEN)
            name = _text(buf, a, b)
        elif field == type_field and v1:
            _expect(wire, VARINT)
            type_ = V1_LAYER_TYPES.get(a, f"V1 layer type {a}")
        elif field == type_field:
            _expect(wire, LEN)
            type_ = _text(buf, a, b)
        elif field == blobs_field:
            _expect(wire, LEN)
            blobs.append(_blob(buf, a, b))
        elif v1 and field == 1:
            raise CaffeFormatError("it uses Caffe's oldest (V0) layout; convert it with Caffe's upgrade_net_proto_binary")
    return CaffeLayer(name, type_, tuple(blobs))


def _blob(buf: bytes, start: int, end: int) -> np.ndarray:
    shape: tuple[int, ...] | None = None
    legacy = [0, 0, 0, 0]
    has_legacy = False
    floats: list[np.ndarray] = []
    doubles: list[np.ndarray] = []
    for field, wire, a, b in _fields(buf, start, end):
        if field == 7:
            _expect(wire, LEN)
            shape = _dims(buf, a, b)
        elif 1 <= field <= 4:
            _expect(wire, VARINT)
            legacy[field - 1], has_legacy = a, True
        elif field == 5:
            floats.append(_numbers(buf, wire, a, b, "<f4", I32))
        elif field == 8:
            doubles.append(_numbers(buf, wire, a, b, "<f8", I64))
    chunks = floats or doubles
    data = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if shape is None:
        shape = tuple(legacy) if has_legacy else (data.size,)
    if int(np.prod(shape, dtype=np.int64)) != data.size:
        raise CaffeFormatError(f"a blob of shape {shape} holds {data.size} values")
    return data.reshape(shape)


def _dims(buf: bytes, start: int, end: int) -> tuple[int, ...]:
    dims: list[int] = []
    for field, wire, a, b in _fields(buf, start, end):
        if field != 1:
            continue
        if wire == VARINT:
            dims.append(a)
        elif wire == LEN:  # packed
            pos = a
            while pos < b:
                value, pos = _varint(buf, pos, b)
                dims.append(value)
        else:
            raise CaffeFormatError("a blob shape is malformed")
    return tuple(dims)


def _numbers(buf: bytes, wire: int, start: int, end: int, dtype: str, unpacked_wire: int) -> np.ndarray:
    size = np.dtype(dtype).itemsize
    if wire == LEN and (end - start) % size == 0:  # packed, as Caffe writes them
        return np.frombuffer(buf, dtype=dtype, count=(end - start) // size, offset=start)
    if wire == unpacked_wire:
        return np.frombuffer(buf, dtype=dtype, count=1, offset=start)
    raise CaffeFormatError("a blob's values are malformed")


def _fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, a, b) per field of the message in buf[pos:end]: a is the value of a varint,
    otherwise [a, b) is the field's payload."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise CaffeFormatError(f"it holds an invalid record at byte {pos}")
        if wire == VARINT:
            value, pos = _varint(buf, pos, end)
            yield field, wire, value, pos
            continue
        if wire == LEN:
            length, pos = _varint(buf, pos, end)
        elif wire in (I64, I32):
            length = 8 if wire == I64 else 4
        else:
            raise CaffeFormatError(f"it holds an invalid record at byte {pos}")
        if pos + length > end:
            raise CaffeFormatError(_TRUNCATED)
        yield field, wire, pos, pos + length
        pos += length


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while pos < end and shift < 64:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    raise CaffeFormatError(_TRUNCATED if pos >= end else f"it holds an invalid number at byte {pos}")


def _expect(wire: int, expected: int) -> None:
    if wire != expected:
        raise CaffeFormatError("its records do not have the types of a Caffe model")


def _text(buf: bytes, start: int, end: int) -> str:
    try:
        return buf[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise CaffeFormatError("a layer name is not text") from None


def encode_caffemodel(layers: Sequence[CaffeLayer], *, v1: bool = False) -> bytes:
    """The inverse of read_caffemodel, for tests and tools. v1=True writes the legacy layout: `layers` (field 2),
    enum layer types and 4-D num/channels/height/width blob dims."""
    field = 2 if v1 else 100
    return b"".join(_len_field(field, _encode_layer(layer, v1)) for layer in layers)


def _encode_layer(layer: CaffeLayer, v1: bool) -> bytes:
    if v1:
        codes = {name: code for code, name in V1_LAYER_TYPES.items()}
        out = _len_field(4, layer.name.encode()) + _key(5, VARINT) + _encode_varint(codes[layer.type])
    else:
        out = _len_field(1, layer.name.encode()) + _len_field(2, layer.type.encode())
    return out + b"".join(_len_field(6 if v1 else 7, _encode_blob(blob, v1)) for blob in layer.blobs)


def _encode_blob(blob: np.ndarray, v1: bool) -> bytes:
    blob = np.asarray(blob, dtype="<f4")
    if v1:
        if blob.ndim > 4:
            raise ValueError(f"the V1 layout holds at most 4-D blobs, got shape {blob.shape}")
        dims = (1,) * (4 - blob.ndim) + blob.shape
        out = b"".join(_key(i + 1, VARINT) + _encode_varint(d) for i, d in enumerate(dims))
    else:
        out = _len_field(7, _len_field(1, b"".join(_encode_varint(d) for d in blob.shape)))
    return out + _len_field(5, blob.tobytes())


def _len_field(field: int, payload: bytes) -> bytes:
    return _key(field, LEN) + _encode_varint(len(payload)) + payload


def _key(field: int, wire: int) -> bytes:
    return _encode_varint(field << 3 | wire)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
