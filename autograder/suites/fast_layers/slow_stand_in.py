"""What `grade calibrate` hands in as fast_layers.py to check that the speed tiers separate a slow
submission from the reference: the naive layers, which loop over output positions as a typical
slow submission does, under the fast names (the reference's layers.py lies beside it)."""
from layers import (
    conv_backward_naive as conv_backward_fast,
    conv_forward_naive as conv_forward_fast,
    max_pool_backward_naive as max_pool_backward_fast,
    max_pool_forward_naive as max_pool_forward_fast,
)

__all__ = ["conv_backward_fast", "conv_forward_fast", "max_pool_backward_fast", "max_pool_forward_fast"]
