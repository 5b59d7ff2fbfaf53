"""Named misconceptions: each a one-place edit of a reference file that models a mistake students
make, with the words the feedback uses when a student's output matches it.

Each edit must match its reference file exactly once (``apply`` raises otherwise), so a refactor
of the reference cannot silently turn a misconception into a copy of the solution. These are
mutants for ``grade audit`` and, on the trusted side only, the models the suites compare a wrong
output with (``autograder.suites.misconceptions``).
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Misconception:
    name: str
    file: str
    old: str
    new: str
    matches: str  # completes "your output matches ..."
    hint: str

    def apply(self, source: str) -> str:
        count = source.count(self.old)
        if count != 1:
            raise ValueError(f"misconception {self.name}: its text occurs {count} times in {self.file}, "
                             "not once; update it with the reference")
        return source.replace(self.old, self.new)


S, L, FL = "shapes.py", "layers.py", "fast_layers.py"
_CONV_PAD = "    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n    out = np.empty("
_CONV_WINDOW = "            window = x_pad[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW]\n"

MISCONCEPTIONS = [
    # --- shapes ------------------------------------------------------------------------------
    Misconception("size_rounded_down", S, "    if span % stride:\n", "    if False:\n",
                  "an output size rounded down when the filter does not fit",
                  "when (W - F + 2P) is not divisible by S the filter does not fit: raise ValueError"),
    Misconception("param_count_without_bias", S,
                  "return kh * kw * d1 * k + (k if _check_bias(bias) else 0)",
                  "return kh * kw * d1 * k + (0 if _check_bias(bias) else 0)",
                  "a parameter count without the biases",
                  "a conv layer has F * F * D1 weights plus 1 bias per filter (K biases)"),
    Misconception("padding_counted_once", S, "    padded = size + 2 * padding\n",
                  "    padded = size + padding\n",
                  "an output size that pads only one side",
                  "zero padding P is added on both sides: W + 2P"),
    Misconception("pool_stride_defaults_to_one", S, "        stride = layer.get(\"stride\", kernel_size)\n",
                  "        stride = layer.get(\"stride\", 1)\n",
                  "a pool layer that steps by 1 when no stride is given",
                  "like torch.nn.MaxPool2d, a pool without a stride steps by its own size"),
    # --- layers: convolution -----------------------------------------------------------------
    Misconception("conv_pads_top_left_only", L, _CONV_PAD,
                  "    x_pad = np.pad(x, ((0, 0), (0, 0), (2 * pad, 0), (2 * pad, 0)))\n    out = np.empty(",
                  "a convolution that pads only the top and left",
                  "np.pad with (pad, pad) puts P zeros on each side of H and W"),
    Misconception("conv_kernel_flipped", L, "np.tensordot(window, w, axes=",
                  "np.tensordot(window, w[:, :, ::-1, ::-1], axes=",
                  "a convolution with a flipped kernel (true convolution, not cross-correlation)",
                  "CNN layers compute cross-correlation: multiply each window by w as it is, unflipped"),
    Misconception("conv_h_w_swapped", L, _CONV_WINDOW,
                  "            window = x_pad[:, :, j * stride : j * stride + HH, i * stride : i * stride + WW]\n",
                  "a convolution with the height and width positions swapped",
                  "output row i reads input rows i*S to i*S+HH, output column j reads columns j*S to j*S+WW"),
    Misconception("conv_forward_ignores_stride", L, _CONV_WINDOW,
                  "            window = x_pad[:, :, i : i + HH, j : j + WW]\n",
                  "a convolution whose windows ignore the stride",
                  "output position (i, j) reads the window starting at (i*S, j*S)"),
    Misconception("conv_backward_ignores_stride", L,
                  "            rows = slice(i * stride, i * stride + HH)\n            cols = slice(j * stride, j * stride + WW)\n",
                  "            rows = slice(i, i + HH)\n            cols = slice(j, j + WW)\n",
                  "a backward pass that ignores the stride",
                  "in the backward pass, output position (i, j) sends its gradient back to the window at (i*S, j*S)"),
    Misconception("conv_bias_grad_averaged_over_batch", L, "    db = dout.sum(axis=(0, 2, 3))\n",
                  "    db = dout.sum(axis=(2, 3)).mean(axis=0)\n",
                  "a bias gradient averaged over the batch axis instead of summed",
                  "db[f] sums dout[:, f, :, :] over the batch and both spatial axes"),
    Misconception("conv_dx_keeps_padding", L, "    dx = dx_pad[:, :, pad : pad + H, pad : pad + W]\n",
                  "    dx = dx_pad\n",
                  "a dx that keeps the padding",
                  "dx has x's shape: cut P rows and columns off every side of dx_pad"),
    Misconception("conv_db_left_at_zero", L, "    db = dout.sum(axis=(0, 2, 3))\n",
                  "    db = np.zeros(b.shape, dtype=b.dtype)\n",
                  "a backward pass that leaves db at zero",
                  "the bias is added to every output position, so db[f] sums dout[:, f, :, :]"),
    Misconception("conv_dw_from_first_image", L,
                  "dw += np.tensordot(d, x_pad[:, :, rows, cols], axes=(0, 0))",
                  "dw += np.tensordot(d[:1], x_pad[:1, :, rows, cols], axes=(0, 0))",
                  "a dw accumulated from the first image of the batch only",
                  "dw sums the contributions of every image of the batch"),
    Misconception("conv_output_size_without_plus_one", L,
                  '    W_out = _output_size(W + 2 * pad, WW, stride, "padded input width")\n\n    x_pad',
                  '    W_out = _output_size(W + 2 * pad, WW, stride, "padded input width") - 1\n\n    x_pad',
                  "a convolution whose output is one column too narrow",
                  "W' = 1 + (W + 2P - WW) / S: do not forget the + 1"),
    # --- layers: pooling and ReLU ------------------------------------------------------------
    Misconception("avg_pool_backward_not_divided", L, "    share = dout / (PH * PW)\n", "    share = dout\n",
                  "an average-pool backward pass without the 1/(PH*PW) factor",
                  "each element of a window gets 1/(PH*PW) of the window's gradient"),
    Misconception("max_pool_grad_to_every_tie", L,
                  "            winner = window.argmax(axis=2)[:, :, None]\n"
                  "            routed = np.zeros(window.shape, dtype=dx.dtype)\n"
                  "            np.put_along_axis(routed, winner, dout[:, :, i, j][:, :, None], axis=2)\n",
                  "            routed = (window == window.max(axis=2, keepdims=True)) * dout[:, :, i, j][:, :, None]\n",
                  "a max-pool gradient sent to every tied maximum",
                  "when several elements tie for a window's maximum only one (the first, as np.argmax picks) gets the gradient"),
    Misconception("max_pool_backward_ignores_stride", L,
                  "            rows = slice(i * stride, i * stride + PH)\n"
                  "            cols = slice(j * stride, j * stride + PW)\n"
                  "            window = x[:, :, rows, cols].reshape(N, C, PH * PW)",
                  "            rows = slice(i, i + PH)\n"
                  "            cols = slice(j, j + PW)\n"
                  "            window = x[:, :, rows, cols].reshape(N, C, PH * PW)",
                  "a max-pool backward pass that ignores the stride",
                  "output position (i, j) routes its gradient into the window starting at (i*S, j*S)"),
    Misconception("pool_window_square", L,
                  "            window = x[:, :, i * stride : i * stride + PH, j * stride : j * stride + PW]\n"
                  "            out[:, :, i, j] = window.max(axis=(2, 3))",
                  "            window = x[:, :, i * stride : i * stride + PH, j * stride : j * stride + PH]\n"
                  "            out[:, :, i, j] = window.max(axis=(2, 3))",
                  "a max pool whose windows are PH x PH, pool_width unused",
                  "a window is pool_height rows by pool_width columns"),
    Misconception("relu_backward_at_zero", L, "np.where(x > 0, dout, 0)", "np.where(x >= 0, dout, 0)",
                  "a ReLU gradient that passes dout where x == 0",
                  "the derivative of ReLU at exactly 0 is taken as 0: use x > 0"),
    # --- fast_layers -------------------------------------------------------------------------
    Misconception("col2im_overwrites", FL, "stride * W_out : stride] += dcols[:, i, j]",
                  "stride * W_out : stride] = dcols[:, i, j]",
                  "a col2im that overwrites overlapping windows instead of adding them",
                  "overlapping receptive fields add their gradients (+=) in col2im"),
    Misconception("fast_conv_square_output", FL,
                  '    W_out = _output_size(W + 2 * pad, WW, stride, "padded input width")\n\n    dtype',
                  '    W_out = H_out\n\n    dtype',
                  "a convolution that assumes square outputs (W' = H')",
                  "compute W' from W, WW, P and S on its own: inputs and kernels may be non-square"),
    Misconception("fast_max_pool_grad_to_every_tie", FL, "            winner &= ~served\n", "",
                  "a max-pool gradient sent to every tied maximum",
                  "when several elements tie for a window's maximum only one (the first, as np.argmax picks) gets the gradient"),
    Misconception("fast_conv_bias_grad_averaged", FL, "    db = d.sum(axis=1)\n",
                  "    db = d.mean(axis=1)\n",
                  "a bias gradient averaged over the batch and positions instead of summed",
                  "db[f] sums the gradient of filter f only, over the batch and both spatial axes"),
]
