"""Plausible student bugs, each planted in the reference by one small edit, with exact outcomes.

Every buggy case must score strictly between 0 and full marks, with exactly the listed tests
losing points. ``ACCEPTED`` holds correct variants a student may legitimately write: they must
keep full marks (a grader that fails them is wrong too).
"""
from __future__ import annotations

from autograder.audit.misconceptions import MISCONCEPTIONS

from . import Append, Case, Fails, Replace

S, L, FL = "shapes.py", "layers.py", "fast_layers.py"
NAMING = "your output matches "  # how the feedback names a misconception


def shapes(name, why, *edits, **fails):
    return Case(name, ("shapes",), why, edits, fails={f"shapes::{k}": v for k, v in fails.items()})


def layers(name, why, *edits, named=None, **fails):
    return Case(name, ("layers",), why, edits, fails={f"layers::{k}": v for k, v in fails.items()},
                check=_names(named))


def fast(name, why, *edits, named=None, **fails):
    return Case(name, ("fast_layers",), why, edits,
                fails={f"fast_layers::{k}": v for k, v in fails.items()}, check=_names(named))


def _names(misconception: str | None):
    """A check that the feedback names this misconception (``autograder.audit.misconceptions``)."""
    if misconception is None:
        return None
    words = NAMING + next(m.matches for m in MISCONCEPTIONS if m.name == misconception)

    def check(outcome) -> None:
        assert any(words in row.output for row in outcome.rows), f"no feedback says {words!r}"
    return check


BUGGY = [
    # --- shapes ---------------------------------------------------------------------------
    shapes("floor_instead_of_raising",
           "the output size is floored when the filter does not fit, instead of raising",
           Replace(S, "    if span % stride:\n", "    if span < 0:  # the student's only check\n"),
           test_conv_output_size_errors=Fails(3, "(7, 3, 3, 0)", "(10, 4, 4, 2)", "((8, 7), 3, 2, 0)"),
           test_pool_output_size_errors=Fails(2, "(7, 2, 2)", "((8, 9), 2, 2)"),
           test_network_summary_errors=Fails(2, "5x5 conv with stride 2", "2x2 pool with stride 2"),
           test_conv_output_size_textbook=Fails(1, "conv_output_size(7, 3, 3, 0) raises")),
    shapes("same_padding_even_kernel",
           "same_padding returns F // 2 for an even F instead of raising",
           Append(S, """
               def same_padding(kernel_size):
                   if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
                       raise ValueError("kernel_size must be a positive int")
                   return kernel_size // 2
           """),
           test_same_padding=Fails(2, "same_padding(2)", "same_padding(4)")),
    shapes("param_count_forgets_bias",
           "conv_param_count leaves out the K biases",
           Replace(S, "return kh * kw * d1 * k + (k if _check_bias(bias) else 0)",
                   "_check_bias(bias)\n    return kh * kw * d1 * k"),
           test_param_counts=Fails(3, "conv_param_count(3, 64, 3)", "conv_param_count(64, 128, 1)"),
           test_network_summary_small_nets=Fails(2),
           test_network_summary_vgg16=Fails(1),
           test_alexnet_conv1=Fails(2)),
    shapes("summary_forgets_flatten",
           "network_summary treats flatten as a no-op, so the fc after it sees a (C, H, W) input",
           Replace(S, "        return (total,), 0\n", "        return shape, 0\n"),
           test_network_summary_small_nets=Fails(3),
           test_network_summary_vgg16=Fails(1),
           test_network_summary_errors=Fails(1, "a pool layer on a flat input")),
    shapes("size_as_float",
           "true division: sizes come back as floats (5.0) rather than ints",
           Replace(S, "    return span // stride + 1\n", "    return span / stride + 1\n"),
           test_conv_output_size_values=0,
           test_conv_output_size_pairs=0,
           test_pool_output_size_values=0,
           test_argument_types=Fails(1, "np.int64(32)"),
           test_network_summary_small_nets=Fails(2),
           test_network_summary_vgg16=Fails(1),
           test_conv_output_size_textbook=Fails(4),
           test_pool_and_padding_textbook=Fails(1, "pool_output_size(224, 2, 2)"),
           test_alexnet_conv1=Fails(1, "AlexNet conv1")),
    shapes("pairs_use_height_twice",
           "for (h, w) pairs the width axis is computed with the height's size",
           Replace(S, "_output_size_1d(sizes[i], kernels[i]", "_output_size_1d(sizes[0], kernels[i]"),
           test_conv_output_size_pairs=Fails(3, "((32, 16), 3, 1, 1)", "((20, 11), (4, 3), (2, 4), 0)"),
           test_pool_output_size_values=Fails(1, "((8, 12), 2, 2)"),
           test_pool_output_size_errors=Fails(1, "((8, 9), 2, 2)"),
           test_network_summary_small_nets=Fails(1, "on 1x8x11")),

    # --- layers: convolution ------------------------------------------------------------------
    layers("forgot_db",
           "conv_backward_naive returns zeros for db",
           Replace(L, "    db = dout.sum(axis=(0, 2, 3))\n", "    db = np.zeros(b.shape, dtype=b.dtype)\n"),
           test_conv_backward_values=0,
           test_conv_backward_numeric=0,
           test_conv_float32=Fails(3, "backward"),
           test_conv_backward_small=0,
           named="conv_db_left_at_zero"),
    layers("dx_keeps_padding",
           "conv_backward_naive returns the padded dx (padding not cut off)",
           Replace(L, "    dx = dx_pad[:, :, pad : pad + H, pad : pad + W]\n", "    dx = dx_pad\n"),
           test_conv_backward_values=Fails(4, "pad 1", "pad 2"),
           test_conv_backward_numeric=Fails(2),
           test_conv_float32=Fails(2, "backward"),
           test_conv_backward_small=0,
           named="conv_dx_keeps_padding"),
    layers("flipped_kernel",
           "convolution instead of cross-correlation: the kernel is flipped in the forward pass",
           Replace(L, "np.tensordot(window, w, axes=", "np.tensordot(window, w[:, :, ::-1, ::-1], axes="),
           test_conv_forward_values=Fails(8),
           test_conv_float32=Fails(3, "forward"),
           test_conv_forward_cs231n=0,
           named="conv_kernel_flipped"),
    layers("output_width_off_by_one",
           "the forward output is one column too narrow (the + 1 of the width formula forgotten)",
           Replace(L, '    W_out = _output_size(W + 2 * pad, WW, stride, "padded input width")\n\n    x_pad',
                   '    W_out = _output_size(W + 2 * pad, WW, stride, "padded input width") - 1\n\n    x_pad'),
           test_conv_forward_values=0,
           test_conv_float32=Fails(3, "forward"),
           test_conv_forward_cs231n=0,
           named="conv_output_size_without_plus_one"),
    layers("dw_first_image_only",
           "dw is accumulated from the first image of the batch only",
           Replace(L, "dw += np.tensordot(d, x_pad[:, :, rows, cols], axes=(0, 0))",
                   "dw += np.tensordot(d[:1], x_pad[:1, :, rows, cols], axes=(0, 0))"),
           test_conv_backward_values=Fails(7),
           test_conv_backward_numeric=Fails(2),
           test_conv_float32=Fails(3, "backward"),
           test_conv_backward_small=0,
           named="conv_dw_from_first_image"),
    layers("bias_added_on_last_axis",
           "out += b after the loop broadcasts b over the width axis instead of the filters",
           Replace(L, "axes=([1, 2, 3], [1, 2, 3])) + b\n", "axes=([1, 2, 3], [1, 2, 3]))\n"),
           Replace(L, "    return out.astype(x.dtype, copy=False), (x, w, b, conv_param)",
                   "    out += b\n    return out.astype(x.dtype, copy=False), (x, w, b, conv_param)"),
           test_conv_forward_values=Fails(8, "operands could not be broadcast", "stride 3"),
           test_conv_backward_values=Fails(6),  # through the broken forward's cache
           test_conv_backward_numeric=Fails(2),
           test_conv_float32=0,
           test_conv_does_not_modify_inputs=0,
           test_conv_invalid_inputs=Fails(1, "backward with dout of the wrong shape"),
           test_conv_forward_cs231n=0,
           test_conv_backward_small=0),
    layers("float64_only_conv",
           "conv_forward_naive asserts float64 inputs, so float32 crashes",
           Replace(L, '    x = _as_float_array("x", x, 4)\n    w = _as_float_array("w", w, 4)\n',
                   '    assert x.dtype == np.float64, "x must be float64"\n'
                   '    x = _as_float_array("x", x, 4)\n    w = _as_float_array("w", w, 4)\n'),
           test_conv_float32=0,
           test_conv_invalid_inputs=Fails(1, "integer x, w and b")),

    # --- layers: pooling and ReLU ---------------------------------------------------------
    layers("max_pool_backward_ignores_stride",
           "max_pool_backward_naive slides its windows one pixel at a time, whatever the stride",
           Replace(L, "            rows = slice(i * stride, i * stride + PH)\n"
                      "            cols = slice(j * stride, j * stride + PW)\n"
                      "            window = x[:, :, rows, cols].reshape(N, C, PH * PW)",
                   "            rows = slice(i, i + PH)\n"
                   "            cols = slice(j, j + PW)\n"
                   "            window = x[:, :, rows, cols].reshape(N, C, PH * PW)"),
           test_max_pool_backward_values=Fails(6),
           test_max_pool_backward_ties=0,
           test_pool_backward_numeric=Fails(2, "max pool"),
           test_pool_float32=Fails(1, "backward, max pool"),
           test_max_pool_cs231n=Fails(1, "backward"),
           named="max_pool_backward_ignores_stride"),
    layers("max_pool_ties_double_counted",
           "every tied maximum of a window receives the window's whole gradient",
           Replace(L, "            winner = window.argmax(axis=2)[:, :, None]\n"
                      "            routed = np.zeros(window.shape, dtype=dx.dtype)\n"
                      "            np.put_along_axis(routed, winner, dout[:, :, i, j][:, :, None], axis=2)\n",
                   "            routed = (window == window.max(axis=2, keepdims=True)) * dout[:, :, i, j][:, :, None]\n"),
           test_max_pool_backward_ties=0,
           named="max_pool_grad_to_every_tie"),
    layers("max_pool_forward_height_twice",
           "max_pool_forward_naive uses pool_height for both sides of the window",
           Replace(L, "            window = x[:, :, i * stride : i * stride + PH, j * stride : j * stride + PW]\n"
                      "            out[:, :, i, j] = window.max(axis=(2, 3))",
                   "            window = x[:, :, i * stride : i * stride + PH, j * stride : j * stride + PH]\n"
                   "            out[:, :, i, j] = window.max(axis=(2, 3))"),
           test_max_pool_forward_values=Fails(3, "2x4 pool", "5x7 pool", "3x1 pool"),
           test_pool_float32=Fails(1, "forward, max pool"),
           named="pool_window_square"),
    layers("avg_pool_backward_not_divided",
           "avg_pool_backward_naive passes each window's whole gradient to every element",
           Replace(L, "    share = dout / (PH * PW)\n", "    share = dout\n"),
           test_avg_pool_backward_values=Fails(7),
           test_pool_backward_numeric=Fails(2, "avg pool"),
           test_pool_float32=Fails(2, "backward, avg pool"),
           test_avg_pool_small=Fails(1, "backward"),
           named="avg_pool_backward_not_divided"),
    layers("relu_backward_at_zero",
           "relu_backward passes the gradient where x >= 0, so x == 0 gets dout instead of 0",
           Replace(L, "np.where(x > 0, dout, 0)", "np.where(x >= 0, dout, 0)"),
           test_relu_backward_values=Fails(1, "with exact zeros"),
           named="relu_backward_at_zero"),
    layers("relu_forward_in_place",
           "relu_forward clips x in place (np.maximum(x, 0, out=x)) and returns a copy",
           Replace(L, "    return np.maximum(x, 0, out=np.empty_like(x)), x\n",
                   "    np.maximum(x, 0, out=x)\n    return x.copy(), x\n"),
           test_relu_does_not_modify_inputs=0),

    # --- fast_layers (graded with the timed tests: a wrong result earns no speed points) -------
    fast("fast_conv_square_only",
         "conv_forward_fast assumes square outputs (W' = H'), so non-square inputs or kernels break",
         Replace(FL, '    W_out = _output_size(W + 2 * pad, WW, stride, "padded input width")\n\n    dtype',
                 '    W_out = H_out  # square images assumed\n\n    dtype'),
         test_conv_forward_fast_values=Fails(2, "x (3, 4, 9, 13)", "w (3, 2, 4, 3)"),
         test_conv_backward_fast_values=Fails(2),  # through the broken forward's cache
         test_conv_fast_float32=Fails(2, "w (3, 2, 4, 3)")),
    fast("fast_col2im_overwrites",
         "col2im assigns (=) instead of adding (+=), so overlapping windows overwrite each other",
         Replace(FL, "stride * W_out : stride] += dcols[:, i, j]", "stride * W_out : stride] = dcols[:, i, j]"),
         test_conv_backward_fast_values=Fails(5),
         test_conv_backward_fast_numeric=Fails(2),
         test_conv_fast_float32=Fails(3, "backward"),
         test_conv_backward_fast_speed=0,
         test_conv_fast_cifar_sized=Fails(1, "backward"),
         named="col2im_overwrites"),
    fast("fast_max_pool_ties_double_counted",
         "max_pool_backward_fast routes a window's gradient to every tied maximum",
         Replace(FL, "            winner &= ~served\n", ""),
         test_max_pool_backward_fast_ties=0,
         named="fast_max_pool_grad_to_every_tie"),
]

# Correct solutions written differently from the reference: full marks, or the grader is wrong.
ACCEPTED = [
    layers("relu_cache_holds_out",
           "relu_forward caches out instead of x: out > 0 exactly where x > 0",
           Replace(L, "    return np.maximum(x, 0, out=np.empty_like(x)), x\n",
                   "    out = np.maximum(x, 0, out=np.empty_like(x))\n    return out, out\n")),
    layers("max_pool_ties_to_last_maximum",
           "ties routed to the LAST maximum of the window (np.argmax on the reversed window)",
           Replace(L, "            winner = window.argmax(axis=2)[:, :, None]\n",
                   "            winner = (PH * PW - 1 - window[:, :, ::-1].argmax(axis=2))[:, :, None]\n")),
]
