"""Weight initialisations the study compared, each drawing from an explicit generator."""

from __future__ import annotations

import torch
from torch import nn

INITS = ("koch", "glorot", "lecun", "default")


def initialise(module: nn.Module, scheme: str, generator: torch.Generator) -> None:
    """Re-initialise every conv and linear layer of ``module`` in place.

    - ``koch``: weights N(0, 1e-2), biases N(0.5, 1e-2) (Koch et al. and the study; std 1e-2);
    - ``glorot``: Glorot (Xavier) normal weights, zero biases;
    - ``lecun``: LeCun normal weights, N(0, 1/fan_in), zero biases;
    - ``default``: PyTorch's own initialisation, drawn from ``generator`` as well.
    """
    if scheme not in INITS:
        raise ValueError(f"model.init={scheme!r}: choose one of {', '.join(INITS)}.")
    if any(p.is_meta for p in module.parameters()):
        return  # shapes only (a weights file checked before anything is allocated): no values
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        w, b = m.weight, m.bias
        with torch.no_grad():
            if scheme == "koch":
                w.normal_(0.0, 1e-2, generator=generator)
                if b is not None:
                    b.normal_(0.5, 1e-2, generator=generator)
            elif scheme == "glorot":
                nn.init.xavier_normal_(w, generator=generator)
                if b is not None:
                    b.zero_()
            elif scheme == "lecun":
                fan_in = w[0].numel()
                w.normal_(0.0, fan_in**-0.5, generator=generator)
                if b is not None:
                    b.zero_()
            else:
                # PyTorch's reset_parameters draws from the global RNG; give it ours.
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
                    m.reset_parameters()
