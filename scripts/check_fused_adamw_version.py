#!/usr/bin/env python3
"""Does torch._fused_adamw_ move the version counter of the parameters it updates? (issue 12: SETA's
merged kernel caches its working weights on the experts' versions). Prints the versions before and
after one fused step and one per-parameter (foreach=False) step."""
import torch

for fused in (True, False):
    p = torch.randn(8, device="cuda", requires_grad=True)
    opt = torch.optim.AdamW([p], lr=1e-2, fused=fused, foreach=None if fused else False)
    p.square().sum().backward()
    before = p._version
    opt.step()
    print(f"torch {torch.__version__} AdamW(fused={fused}): parameter version {before} -> {p._version}")
