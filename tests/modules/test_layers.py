"""Layers and two-hot regression of the Newt world model."""

import math

import pytest
import torch
from torch import nn

from newt.modules import QEnsemble, SimNorm, TwoHot, init_weights, mlp, zero_last_layer
from newt.modules.layers import Mish, SharedInput, mlp_forward


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Tiny tensors: one intra-op thread avoids thread hand-off costs on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ----------------------------------------------------------------------------- SimNorm
def test_simnorm_groups_sum_to_one():
    x = torch.randn(5, 3, 64) * 10
    out = SimNorm(8)(x)
    assert out.shape == x.shape
    groups = out.view(5, 3, 8, 8)
    torch.testing.assert_close(groups.sum(-1), torch.ones(5, 3, 8))
    assert (out >= 0).all()
    # Each group is the softmax of its own slice, independently of the others.
    torch.testing.assert_close(groups[0, 0, 2], torch.softmax(x[0, 0, 16:24], -1))


def test_simnorm_rejects_bad_group_size():
    with pytest.raises(ValueError, match="group_size"):
        SimNorm(0)


# ----------------------------------------------------------------------------- mlp + init
def test_mlp_layout_plain_and_simnorm_head():
    plain = mlp(10, [32, 32], 7)
    kinds = [type(m) for m in plain]
    assert kinds == [nn.Linear, nn.LayerNorm, Mish, nn.Linear, nn.LayerNorm, Mish, nn.Linear]
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())
    headed = mlp(10, [32], 16, last_activation=SimNorm(8))
    assert [type(m) for m in headed][1:] == [nn.LayerNorm, SimNorm]
    out = headed(torch.randn(4, 10))
    torch.testing.assert_close(out.view(4, 2, 8).sum(-1), torch.ones(4, 2))


def test_init_weights_and_zero_last_layer():
    torch.manual_seed(0)
    net = mlp(256, [512, 512], 101)
    net.apply(init_weights)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for linear in linears:
        assert (linear.bias == 0).all()
        assert abs(linear.weight.std().item() - 0.02) < 0.002
        assert abs(linear.weight.mean().item()) < 0.002
    for norm in (m for m in net if isinstance(m, nn.LayerNorm)):
        assert (norm.weight == 1).all() and (norm.bias == 0).all()
    zero_last_layer(net)
    assert (linears[-1].weight == 0).all()
    assert (net(torch.randn(3, 256)) == 0).all()


# ----------------------------------------------------------------------------- Mish
def test_mish_matches_torch_values_and_gradients():
    x = torch.cat(
        [
            torch.tensor([-1e4, -200.0, -100.0, -88.0, -30.0, -1e-3, 0.0, 1e-3, 19.9, 20.0, 20.1, 1e4]),
            torch.linspace(-15, 15, 301),
        ]
    ).requires_grad_()
    x_ref = x.detach().double().requires_grad_()
    out = Mish()(x)
    ref = nn.functional.mish(x_ref)
    torch.testing.assert_close(out.double(), ref.detach(), rtol=1e-6, atol=1e-7)
    (grad,) = torch.autograd.grad(out.sum(), x)
    (grad_ref,) = torch.autograd.grad(ref.sum(), x_ref)
    torch.testing.assert_close(grad.double(), grad_ref, rtol=1e-5, atol=1e-6)
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()
    assert out[11] == 1e4 and grad[11] == 1.0  # identity far right
    assert out[0] == 0 and grad[0] == 0  # zero far left
    x64 = (torch.randn(40, dtype=torch.float64) * 5).requires_grad_()
    assert torch.autograd.gradcheck(Mish(), (x64,))


def test_mish_large_and_non_contiguous_inputs():
    """Inputs spanning several blocks of the blockwise kernels, and a transposed view."""
    torch.manual_seed(0)
    x = (torch.randn(700, 1000) * 8).t().requires_grad_()  # 700k elements, not contiguous
    out = Mish()(x)
    torch.testing.assert_close(out, nn.functional.mish(x.detach()), rtol=1e-5, atol=1e-6)
    grad_out = torch.randn(700, 1000).t()
    (grad,) = torch.autograd.grad(out, x, grad_out)
    x_ref = x.detach().clone().requires_grad_()
    (grad_ref,) = torch.autograd.grad(nn.functional.mish(x_ref), x_ref, grad_out)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-5, atol=1e-6)


def test_mish_under_vmap_matches_loop():
    torch.manual_seed(0)
    weights = torch.randn(3, 6, 5, requires_grad=True)
    x = torch.randn(4, 6)
    torch.vmap(lambda w: Mish()(x @ w))(weights).square().sum().backward()
    loop_weights = weights.detach().clone().requires_grad_()
    torch.stack([nn.functional.mish(x @ w) for w in loop_weights]).square().sum().backward()
    torch.testing.assert_close(weights.grad, loop_weights.grad)


# ----------------------------------------------------------------------------- shared input
def _randomise_net(net: nn.Module) -> None:
    with torch.no_grad():
        for param in net.parameters():
            param.normal_(0, 0.3)


def _full_input(x, shared: SharedInput):
    rows = shared.table[shared.index]
    rows = rows.view(*shared.index.shape, *[1] * (x.ndim - 1 - shared.index.ndim), rows.shape[-1])
    rows = rows.expand(*x.shape[:-1], rows.shape[-1])
    return torch.cat([x[..., : shared.offset], rows, x[..., shared.offset :]], -1)


@pytest.mark.parametrize(
    "index, x_shape, offset",
    [
        (torch.tensor([4, 0]), (2, 7, 9), 5),  # one row per env, broadcast over samples
        (torch.tensor([[1, 1, 3], [0, 2, 3]]), (2, 3, 9), 9),  # more indices than table rows
        (torch.tensor([2]), (1, 9), 0),  # shared columns first
    ],
)
def test_mlp_forward_shared_input_matches_concatenation(index, x_shape, offset):
    torch.manual_seed(0)
    table = torch.randn(5, 6)
    net = mlp(15, [16, 16], 8, last_activation=SimNorm(4))
    _randomise_net(net)
    x = torch.randn(x_shape, requires_grad=True)
    shared = SharedInput(table, index, offset)
    out = mlp_forward(net, x, shared)
    ref = net(_full_input(x, shared))
    torch.testing.assert_close(out, ref)
    grads = torch.autograd.grad(out.square().sum(), [x, *net.parameters()])
    grads_ref = torch.autograd.grad(ref.square().sum(), [x, *net.parameters()])
    for grad, grad_ref in zip(grads, grads_ref):
        torch.testing.assert_close(grad, grad_ref)
    torch.testing.assert_close(mlp_forward(net, _full_input(x, shared)), ref)  # no shared input


def test_qensemble_shared_input_matches_concatenation():
    torch.manual_seed(0)
    ensemble = QEnsemble(12, [16, 16], 7, num_q=3)
    _randomise(ensemble)
    shared = SharedInput(torch.randn(4, 5), torch.tensor([3, 1]), 4)
    x = torch.randn(2, 6, 7)
    out = ensemble(x, shared=shared)
    ref = ensemble(_full_input(x, shared))
    torch.testing.assert_close(out, ref)
    grads = torch.autograd.grad(out.square().sum(), list(ensemble.parameters()))
    grads_ref = torch.autograd.grad(ref.square().sum(), list(ensemble.parameters()))
    for grad, grad_ref in zip(grads, grads_ref):
        torch.testing.assert_close(grad, grad_ref)


def test_mlp_forward_needs_a_linear_first_layer():
    net = nn.Sequential(nn.LayerNorm(4), nn.Linear(4, 2))
    with pytest.raises(TypeError, match="first layer must be an nn.Linear"):
        mlp_forward(net, torch.randn(3, 2), SharedInput(torch.randn(2, 2), torch.tensor([0]), 0))


# ----------------------------------------------------------------------------- QEnsemble
def _randomise(ensemble: QEnsemble) -> None:
    with torch.no_grad():
        for tensor in ensemble.params.values(True, True):
            tensor.normal_(0, 0.3)


def test_qensemble_matches_independent_heads():
    torch.manual_seed(0)
    ensemble = QEnsemble(12, [32, 32], 101, num_q=4)
    _randomise(ensemble)
    x = torch.randn(2, 6, 12)
    out = ensemble(x)
    assert out.shape == (4, 2, 6, 101)
    for k in range(4):
        head = mlp(12, [32, 32], 101)
        ensemble.params[k].data.to_module(head)
        torch.testing.assert_close(out[k], head(x))
    # A subset of heads (as Q(..., "min"/"avg") uses) gives the same rows.
    subset = ensemble(x, ensemble.params[torch.tensor([3, 1])])
    torch.testing.assert_close(subset, out[[3, 1]])


def test_qensemble_initial_state():
    ensemble = QEnsemble(12, [32, 32], 101, num_q=3)
    assert ensemble.params.batch_size == (3,)
    assert all(p.requires_grad for p in ensemble.params.values(True, True))
    assert not any(t.requires_grad for t in ensemble.target_params.values(True, True))
    # Last layers zeroed: uniform logits from every head, online and target.
    assert (ensemble(torch.randn(5, 12)) == 0).all()
    assert (ensemble(torch.randn(5, 12), ensemble.target_params) == 0).all()
    # Independent heads, and a target equal to (but not sharing memory with) the online heads.
    first = ensemble.params["0", "weight"]
    assert not torch.equal(first[0], first[1])
    target_first = ensemble.target_params["0", "weight"]
    assert torch.equal(first, target_first) and first.data_ptr() != target_first.data_ptr()
    # Parameters are learnable, target buffers are not.
    assert len(list(ensemble.parameters())) == 10
    assert len(list(ensemble.buffers())) == 10


def test_qensemble_soft_update_hand_computed():
    ensemble = QEnsemble(4, [8], 5, num_q=2)
    with torch.no_grad():
        ensemble.params.data.apply_(lambda t: t.fill_(1.0))
        ensemble.target_params.data.apply_(lambda t: t.fill_(-1.0))
    ensemble.soft_update_target(0.25)
    for tensor in ensemble.target_params.values(True, True):
        torch.testing.assert_close(tensor, torch.full_like(tensor, -0.5))  # -1 + 0.25 * (1 - -1)
    for tensor in ensemble.params.values(True, True):
        assert (tensor == 1).all()
    with pytest.raises(ValueError, match="tau"):
        ensemble.soft_update_target(1.5)


def test_qensemble_needs_two_heads():
    with pytest.raises(ValueError, match="num_q"):
        QEnsemble(4, [8], 5, num_q=1)


# ----------------------------------------------------------------------------- TwoHot
def _official_two_hot(x, num_bins=101, vmin=-10.0, vmax=10.0):
    """The TD-MPC2 formula: floor-based bin index on clipped symlog values."""
    bin_size = (vmax - vmin) / (num_bins - 1)
    u = torch.clamp(torch.sign(x) * torch.log(1 + x.abs()), vmin, vmax).squeeze(-1)
    idx = torch.floor((u - vmin) / bin_size)
    offset = ((u - vmin) / bin_size - idx).unsqueeze(-1)
    idx = idx.long().unsqueeze(-1)
    out = torch.zeros(*u.shape, num_bins)
    out = out.scatter(-1, idx, 1 - offset)
    return out.scatter(-1, (idx + 1) % num_bins, offset)


def test_two_hot_hand_computed_encode():
    two_hot = TwoHot()
    assert two_hot.bin_size == pytest.approx(0.2)
    encoded = two_hot.encode(torch.tensor([[1.0], [0.0], [-3.0], [1e9], [-1e9]]))
    # symlog(1) = ln 2 = 0.693147; (0.693147 + 10) / 0.2 = 53.4657 -> bins 53 / 54.
    position = (math.log(2.0) + 10) / 0.2
    expected = torch.zeros(5, 101)
    expected[0, 53], expected[0, 54] = 54 - position, position - 53
    expected[1, 50] = 1.0  # symlog(0) = 0 is bin 50 exactly
    position = (-math.log(4.0) + 10) / 0.2  # symlog(-3) = -ln 4 -> 43.07
    expected[2, 43], expected[2, 44] = 44 - position, position - 43
    expected[3, 100] = 1.0  # clipped at vmax
    expected[4, 0] = 1.0  # clipped at vmin
    torch.testing.assert_close(encoded, expected, atol=1e-5, rtol=0)


def test_two_hot_matches_official_formula():
    torch.manual_seed(0)
    x = torch.cat([torch.randn(500, 1) * 50, torch.randn(500, 1)])
    two_hot = TwoHot()
    torch.testing.assert_close(two_hot.encode(x), _official_two_hot(x), atol=2e-5, rtol=0)
    logits = torch.randn(1000, 101) * 3
    bins = torch.linspace(-10, 10, 101)
    expected = (torch.softmax(logits, -1) * bins).sum(-1, keepdim=True)
    expected = torch.sign(expected) * (torch.exp(expected.abs()) - 1)
    torch.testing.assert_close(two_hot.decode(logits), expected, rtol=1e-5, atol=1e-5)
    target = _official_two_hot(x)
    expected_ce = -(target * torch.log_softmax(logits, -1)).sum(-1, keepdim=True)
    torch.testing.assert_close(two_hot.cross_entropy(logits, x), expected_ce, rtol=1e-4, atol=1e-4)


def test_two_hot_round_trip():
    torch.manual_seed(0)
    x = torch.cat([torch.linspace(-1000, 1000, 201), torch.randn(100)]).unsqueeze(-1)
    two_hot = TwoHot()
    decoded = two_hot.decode(two_hot.encode(x).clamp_min(1e-30).log())
    torch.testing.assert_close(decoded, x, rtol=1e-4, atol=1e-4)
    # Zero logits are a uniform distribution, which decodes to symexp(0) = 0.
    assert two_hot.decode(torch.zeros(3, 101)).abs().max() < 1e-5
    # Cross-entropy is minimised by the target's own log-probabilities.
    target_logits = two_hot.encode(x).clamp_min(1e-30).log()
    assert (
        two_hot.cross_entropy(target_logits, x) <= two_hot.cross_entropy(torch.zeros(301, 101), x)
    ).all()


def test_two_hot_other_support_and_errors():
    two_hot = TwoHot(num_bins=5, vmin=-2, vmax=2)
    assert two_hot.encode(torch.tensor([[math.e - 1]])).tolist() == [[0, 0, 0, 1, 0]]
    with pytest.raises(ValueError, match="trailing dim of size 1"):
        two_hot.encode(torch.zeros(3))
    with pytest.raises(ValueError, match="num_bins=5"):
        two_hot.decode(torch.zeros(3, 101))
    with pytest.raises(ValueError, match="num_bins"):
        TwoHot(num_bins=1)
    with pytest.raises(ValueError, match="vmin"):
        TwoHot(vmin=1, vmax=-1)
