"""Architecture facts computed from the model, checked against counts made by hand and the paper."""
from __future__ import annotations

import pytest

from model.architecture import PAPER_TABLE, describe


@pytest.fixture(scope="module")
def arch(engine):
    return describe(engine.model)


def test_parameter_counts_sum_to_the_model(arch, engine):
    model = engine.model
    assert arch.total_params == sum(p.numel() for p in model.parameters())
    for spec in arch.modules:
        module = model.get_submodule(f"inception{spec.name}")
        assert spec.params == sum(p.numel() for p in module.parameters())


def test_channels_and_sizes_match_the_paper(arch):
    sizes = {"3a": 28, "3b": 28, "4a": 14, "4b": 14, "4c": 14, "4d": 14, "4e": 14, "5a": 7, "5b": 7}
    outputs = {"3a": 256, "3b": 480, "4a": 512, "4b": 512, "4c": 512, "4d": 528, "4e": 832, "5a": 832, "5b": 1024}
    for spec in arch.modules:
        c1, r3, c3, r5, c5, pool, _, _ = PAPER_TABLE[spec.name]
        assert [b.out_channels for b in spec.branches] == [c1, c3, c5, pool]
        assert spec.branches[1].layers[0].out_channels == r3 and spec.branches[2].layers[0].out_channels == r5
        assert spec.size == sizes[spec.name] and spec.out_channels == outputs[spec.name]


def test_hand_checked_multiply_adds_3a(arch):
    a3 = arch.modules[0]
    # 3x3 branch: 1x1 192→96 then 3x3 96→128, at 28x28.
    assert a3.branches[1].macs == 28 * 28 * (192 * 96 + 96 * 128 * 9) == 101_154_816
    # torchvision's "5x5" branch: 1x1 192→16 then a 3x3 (not 5x5) 16→32.
    assert a3.branches[2].kernel == 3 and a3.branches[2].paper_kernel == 5
    assert a3.branches[2].macs == 28 * 28 * (192 * 16 + 16 * 32 * 9)
    assert "paper: 5x5" in a3.branches[2].label
    # Naive module: 1x1, 3x3 and 3x3 straight on 192 channels, pool passes 192 through.
    assert a3.naive_params == 192 * 64 + 192 * 128 * 9 + 192 * 32 * 9
    assert a3.naive_out_channels == 64 + 128 + 32 + 192
    assert a3.naive_macs == a3.naive_params * 28 * 28


def test_paper_3a_numbers_follow_from_its_channels():
    c1, r3, c3, r5, c5, pool, params_k, ops_m = PAPER_TABLE["3a"]
    weights = 192 * c1 + 192 * r3 + r3 * c3 * 9 + 192 * r5 + r5 * c5 * 25 + 192 * pool
    assert weights // 1024 == params_k  # the paper's K is 1024 (rounded down) and it leaves out biases
    assert round(weights * 28 * 28 / 1e6) == ops_m


def test_global_average_pooling_vs_fc(arch):
    assert arch.head_in_features == 1024 and arch.head_size == 7
    assert arch.fc_equivalent_weights == 7 * 7 * 1024 * 1024 == 51_380_224


def test_honest_notes(arch):
    assert [n.key for n in arch.notes] == ["kernel", "batch_norm", "no_lrn"]
    text = " ".join(n.text for n in arch.notes)
    assert "pytorch/vision#906" in text and "batch normalization" in text and "local response" in text
