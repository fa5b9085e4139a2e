"""The residual tower's shortcut: a strided 1x1 convolution computed as stride 1 on every
other pixel (oneDNN#6035 corrupts the heap on the strided form with few channels)."""

import torch
import torch.nn.functional as F

from siamese_faces.models.resnet import BasicBlock


def test_shortcut_equals_a_strided_pointwise_convolution_and_its_gradient():
    torch.set_num_threads(1)  # where the strided kernel corrupted the heap
    block = BasicBlock(4, 8, 2).to(memory_format=torch.channels_last)
    conv = block.skip[0]
    for size in (8, 9):  # even and odd sides give the same output size as conv1's
        x = torch.randn(3, 4, size, size, generator=torch.Generator().manual_seed(size))
        x = x.contiguous(memory_format=torch.channels_last).requires_grad_()
        r = torch.randn(3, 8, (size + 1) // 2, (size + 1) // 2)  # sum() alone: BN's grad is 0
        conv.weight.grad = None
        (block.skip(block.every(x)) * r).sum().backward()
        ours = conv.weight.grad.clone()
        ref_x = x.detach().contiguous().requires_grad_()
        w = conv.weight.detach().contiguous().requires_grad_()
        bn = block.skip[1]
        with torch.backends.mkldnn.flags(enabled=False):  # ATen's own kernel: not oneDNN's
            y = F.conv2d(ref_x, w, stride=2)
            F.batch_norm(y, None, None, bn.weight, bn.bias, training=True).mul(r).sum().backward()
        assert block(x).shape[-1] == block.conv1(x).shape[-1] == y.shape[-1]
        assert ours.abs().max() > 1e-2 and torch.allclose(ours, w.grad, atol=1e-4)
    assert "skip.0.weight" in block.state_dict()  # saved runs keep loading


def test_shortcut_keeps_the_gradient_channels_last_and_equal_to_a_slices():
    # A strided slice's backward hands its gradient back in NCHW order; mixed with the
    # channels_last activations, every elementwise backward below it takes a slow path.
    block = BasicBlock(4, 8, 2).double().to(memory_format=torch.channels_last)
    for size in (8, 9):
        x = torch.randn(3, 4, size, size, generator=torch.Generator().manual_seed(size))
        x = x.double().contiguous(memory_format=torch.channels_last).requires_grad_()
        r = torch.randn(3, 4, (size + 1) // 2, (size + 1) // 2, dtype=torch.float64)
        taken = block.every(x)
        assert torch.equal(taken, x[:, :, ::2, ::2])
        (grad,) = torch.autograd.grad((taken * r).sum(), x)
        (sliced,) = torch.autograd.grad((x[:, :, ::2, ::2] * r).sum(), x)
        assert torch.equal(grad, sliced)
        assert grad.is_contiguous(memory_format=torch.channels_last)
        assert not sliced.is_contiguous(memory_format=torch.channels_last)  # why it matters
