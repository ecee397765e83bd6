"""A SwiGLU MLP block on the mimo_kc ops, as a model file would write one:
y = down(silu(gate(rmsnorm(x))) * up(rmsnorm(x))), bf16 activations, f32 GEMM accumulation.

Needs the ops rmsnorm, gemm_bf16, cast_f32_to_bf16 and swiglu loaded (mimo_kc_torch.load).
gemm_bf16 multiplies by B stored [K, N], so the weights are kept transposed with respect to
nn.Linear's [out, in]; from_linear_weights converts a checkpoint's once, at load time.
"""
from __future__ import annotations

import torch

OPS = "rmsnorm,gemm_bf16,cast_f32_to_bf16,swiglu"


class MimoMLP(torch.nn.Module):
    def __init__(self, hidden: int, intermediate: int, device=None):
        super().__init__()
        bf16 = {"dtype": torch.bfloat16, "device": device}
        self.hidden, self.intermediate = hidden, intermediate
        self.norm_weight = torch.nn.Parameter(torch.ones(hidden, **bf16), requires_grad=False)
        self.gate_t = torch.nn.Parameter(torch.empty(hidden, intermediate, **bf16), requires_grad=False)
        self.up_t = torch.nn.Parameter(torch.empty(hidden, intermediate, **bf16), requires_grad=False)
        self.down_t = torch.nn.Parameter(torch.empty(intermediate, hidden, **bf16), requires_grad=False)

    @torch.no_grad()
    def from_linear_weights(self, norm: torch.Tensor, gate: torch.Tensor, up: torch.Tensor, down: torch.Tensor) -> "MimoMLP":
        """nn.Linear layout: gate/up [intermediate, hidden], down [hidden, intermediate]."""
        self.norm_weight.copy_(norm)
        self.gate_t.copy_(gate.t())
        self.up_t.copy_(up.t())
        self.down_t.copy_(down.t())
        return self

    def _linear_bf16(self, x: torch.Tensor, weight_t: torch.Tensor) -> torch.Tensor:
        m, k = x.shape
        n = weight_t.shape[1]
        acc = torch.empty(m, n, dtype=torch.float32, device=x.device)
        torch.ops.mimo_kc.gemm_bf16(x, weight_t, acc, m, n, k)
        out = torch.empty(m, n, dtype=torch.bfloat16, device=x.device)
        torch.ops.mimo_kc.cast_f32_to_bf16(acc.view(-1), out.view(-1), m * n)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: bf16 [T, hidden] -> f32 [T, hidden]."""
        t = x.shape[0]
        h = torch.empty_like(x)
        torch.ops.mimo_kc.rmsnorm(x, self.norm_weight, h, t, self.hidden)
        gate, up = self._linear_bf16(h, self.gate_t), self._linear_bf16(h, self.up_t)
        act = torch.empty_like(gate)
        torch.ops.mimo_kc.swiglu(gate.view(-1), up.view(-1), act.view(-1), t * self.intermediate)
        y = torch.empty(t, self.hidden, dtype=torch.float32, device=x.device)
        torch.ops.mimo_kc.gemm_bf16(act, self.down_t, y, t, self.hidden, self.intermediate)
        return y
