#!/usr/bin/env python3
"""Tiny MiMo-V2-Flash checkpoint + transformers reference outputs, for the TypeScript suite.

Run (from the repo root, with the reference venv; see below):
    .venv-ref/bin/python scripts/make-reference-fixture.py [--out test/fixtures/tiny-hf]
The venv: python3 -m venv .venv-ref && .venv-ref/bin/pip install torch==2.13.0+cpu transformers==5.18.0 safetensors
(offline here: add --no-index --find-links /opt/wheels --find-links /opt/pypi/files --find-links /opt/pypi-more/files).
It is deterministic on CPU: rerunning rewrites byte-identical files. It takes well under a minute.

Writes into --out:
  config.json, generation_config.json, model.safetensors
        transformers' save_pretrained of the tiny model, in bf16 (e_score_correction_bias stays f32).
  config.published.json
        the same model in Xiaomi's hub config keys (hybrid_layer_pattern, swa_*, layernorm_epsilon, ...).
  reference.json
        f32 transformers outputs (eager attention, the bf16 weights upcast with .float()) for 4 prompts:
        prompt ids, last-prompt-position logits, 16 greedy KV-cache decode steps (token + that step's logits),
        top1-top2 margins; the same prompt 2 in bf16 (tokens + last-position logits); the pre-final-norm residual
        of prompt 1's last position; and the self-checks below with their numbers.
The script fails (nonzero exit) if a self-check fails: published-form config == save_pretrained form (layer types,
kv heads, rope, sinks, logits bit-equal), cached decode == uncached forward, our greedy loop == model.generate.
Weights (init_weights, seed SEED): embeddings N(0,1); every matrix N(0, gain^2/fan_in) (gain 1, lm_head 3:
logit std ~3); RMSNorm weights 1 + 0.1 N(0,1); sinks U(-1,1); e_score_correction_bias U(-0.05,0.05); then bf16.

How transformers 5.18 computes MiMo-V2-Flash (read from models/mimo_v2_flash/modeling_mimo_v2_flash.py):
- Published config keys: MiMoV2FlashConfig does NOT translate them. hybrid_layer_pattern, moe_layer_freq, rope_theta,
  swa_rope_theta, partial_rotary_factor, layernorm_epsilon, swa_num_* / swa_*_head_dim are kept as inert extra
  attributes. The model is built from defaults/hard-wired rules that happen to equal the real model (and this tiny
  one): layer_types "full" iff i==0 or (i+1)%6==0; mlp_layer_types 1 dense + rest sparse; rope_parameters
  full 5e6 / sliding 1e4, both partial_rotary_factor 0.334; rms_norm_eps 1e-5; SWA kv heads = 2 * num_key_value_heads
  (swa_num_key_value_heads is ignored); SWA q heads = num_attention_heads; one head_dim/v_head_dim for both types.
  The only hub translations are routed_scaling_factor null -> 1.0 and the weight rename attention_sink_bias -> sinks.
  So a published config that differs from those defaults would load as the WRONG model, silently.
- RMSNorm: x.float(); x * rsqrt(mean(x^2) + eps); cast back to the input dtype; THEN weight * x (in the weight
  dtype, i.e. bf16*bf16 in the bf16 model). Plain weight (not 1 + weight).
- RoPE: inv_freq = 1/theta^(arange(0,64,2)/64), rotary dim int(192*0.334) = 64, rotate-half (NeoX) on the first
  64 dims of each q/k head, the other 128 dims pass through. cos/sin computed in f32, cast to the activation dtype.
  Positions are absolute (0..), per layer type theta: full 5e6, sliding 1e4.
- Attention: q/k/v/o without bias; scores = q k^T * 192^-0.5 (+ mask). V is multiplied by attention_value_scale
  (0.707) right after v_proj, BEFORE the KV-cache write (the cache holds scaled V). GQA by repeat_kv
  (kv head h serves q heads h*g..h*g+g-1).
- Sink (SWA layers only, param self_attn.sinks [num_heads], hub name attention_sink_bias): the raw sink value is
  appended as one extra logit column AFTER scaling and masking (it is not multiplied by the 192^-0.5 scale),
  row max subtracted, softmax in the scores' dtype, sink column dropped, p @ V. Full layers have no sink.
- Window: sliding mask keeps kv_idx <= q_idx and kv_idx > q_idx - 128: 128 keys including the current token.
  The sliding cache keeps the last 127 tokens.
- Router: logits = F.linear(h.float(), gate.weight.float()) in f32 (weight is stored in the model dtype, bf16 here;
  only e_score_correction_bias is kept f32, via _keep_in_fp32_modules_strict). scores = sigmoid(logits); choice =
  scores + e_score_correction_bias; top-2 of choice (n_group 1); weights = UNbiased scores gathered, divided by
  (sum + 1e-20), times routed_scaling_factor (null -> 1.0). No shared experts. The f32 weights multiply the expert
  output (bf16 in the bf16 model) and are index_add'ed into a zeros_like(h) buffer (bf16 in the bf16 model).
- Experts: fused gate_up_proj [E, 2*I, H] in memory; gate = first I rows, up = last I rows; silu(gate)*up; down.
  save_pretrained writes them back in the hub layout model.layers.N.mlp.experts.E.{gate,up,down}_proj.weight.
- Experts implementation: from_pretrained defaults to "grouped_mm" (integrations/moe.py), not the eager loop in
  the modeling file. In f32 both give identical logits here; in bf16 they differ (grouped_mm sums the top-k expert
  outputs in f32 then casts once; eager index_adds each weighted expert output into a bf16 buffer). This script
  uses experts_implementation="eager" and attn_implementation="eager" throughout; reference.json's checks give
  the bf16 grouped_mm-vs-eager gap.
- Checkpoint (save_pretrained): hub tensor names, i.e. self_attn.attention_sink_bias (bf16, [num_heads], SWA layers
  only) and per-expert mlp.experts.E.{gate,up,down}_proj.weight; mlp.gate.weight bf16 [E, H];
  mlp.gate.e_score_correction_bias f32 [E]. No MTP tensors.
- f64: model.double() still runs RMSNorm, the router logits and the RoPE tables in f32 (hard-coded casts), so the
  "f32_vs_f64" check is against that mixed model; a pure-f64 reimplementation lands within ~6e-6 of the f32 values.
- output_hidden_states gives 7 entries: [embeddings, layer0..layer4 outputs, POST-norm final]; the last layer's raw
  output is replaced by last_hidden_state (tie_last_hidden_states). The pre-norm residual is taken here with a
  forward pre-hook on model.norm (and cross-checked against config.tie_last_hidden_states=False).
"""
import argparse
import copy
import json
import math
import os
import sys

import torch
from safetensors import safe_open
from transformers import MiMoV2FlashConfig, MiMoV2FlashForCausalLM

# Chosen by scanning seeds 1..40 (lm_head gain 3): the only one whose 68 recorded top1-top2 margins all exceed 0.05.
SEED = 38
DECODE_STEPS = 16
PROMPT_LENGTHS = [7, 150, 1, 40]  # prompt 2 (150) is longer than the 128-token window
PROMPT_VOCAB = 256

# The tiny model in Xiaomi's published hub keys; other code depends on these exact numbers.
PUBLISHED_CONFIG = {
    "model_type": "mimo_v2_flash",
    "architectures": ["MiMoV2FlashForCausalLM"],
    "hidden_size": 256,
    "num_hidden_layers": 6,
    "vocab_size": 300,
    "tie_word_embeddings": False,
    "hybrid_layer_pattern": [0, 1, 1, 1, 1, 0],
    "moe_layer_freq": [0, 1, 1, 1, 1, 1],
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "swa_num_attention_heads": 4,
    "swa_num_key_value_heads": 2,
    "head_dim": 192,
    "swa_head_dim": 192,
    "v_head_dim": 128,
    "swa_v_head_dim": 128,
    "intermediate_size": 320,
    "moe_intermediate_size": 96,
    "n_routed_experts": 8,
    "num_experts_per_tok": 2,
    "scoring_func": "sigmoid",
    "topk_method": "noaux_tc",
    "n_group": 1,
    "topk_group": 1,
    "norm_topk_prob": True,
    "routed_scaling_factor": None,
    "n_shared_experts": None,
    "rope_theta": 5000000,
    "swa_rope_theta": 10000,
    "partial_rotary_factor": 0.334,
    "sliding_window": 128,
    "layernorm_epsilon": 1e-5,
    "attention_value_scale": 0.707,
    "add_swa_attention_sink_bias": True,
    "add_full_attention_sink_bias": False,
    "attention_bias": False,
    "hidden_act": "silu",
    "max_position_embeddings": 2048,
    "torch_dtype": "bfloat16",
}


def native_config():
    """The same model in transformers' own keys (what save_pretrained writes back)."""
    p = PUBLISHED_CONFIG
    layer_types = ["full_attention" if t == 0 else "sliding_attention" for t in p["hybrid_layer_pattern"]]
    rope = lambda theta: {"rope_type": "default", "rope_theta": float(theta), "partial_rotary_factor": p["partial_rotary_factor"]}
    return MiMoV2FlashConfig(
        vocab_size=p["vocab_size"], hidden_size=p["hidden_size"], num_hidden_layers=p["num_hidden_layers"],
        intermediate_size=p["intermediate_size"], moe_intermediate_size=p["moe_intermediate_size"],
        num_attention_heads=p["num_attention_heads"], num_key_value_heads=p["num_key_value_heads"],
        head_dim=p["head_dim"], v_head_dim=p["v_head_dim"], layer_types=layer_types,
        mlp_layer_types=["sparse" if f else "dense" for f in p["moe_layer_freq"]],
        rope_parameters={"full_attention": rope(p["rope_theta"]), "sliding_attention": rope(p["swa_rope_theta"])},
        n_routed_experts=p["n_routed_experts"], num_experts_per_tok=p["num_experts_per_tok"], n_group=p["n_group"],
        topk_group=p["topk_group"], norm_topk_prob=p["norm_topk_prob"], routed_scaling_factor=1.0,
        sliding_window=p["sliding_window"], rms_norm_eps=p["layernorm_epsilon"],
        attention_value_scale=p["attention_value_scale"], attention_bias=p["attention_bias"],
        hidden_act=p["hidden_act"], max_position_embeddings=p["max_position_embeddings"],
        tie_word_embeddings=p["tie_word_embeddings"], dtype="bfloat16",
    )


def init_weights(model, gen):
    """Seeded weights scaled by 1/sqrt(fan_in) so the residual stream stays O(1) over 6 layers and the logits
    spread over a few units. Unknown tensors are an error so that none keeps transformers' default init."""
    def normal(t, std):
        t.copy_(torch.randn(t.shape, generator=gen) * std)

    def uniform(t, lo, hi):
        t.copy_(lo + (hi - lo) * torch.rand(t.shape, generator=gen))

    gains = {"q_proj": 1.0, "k_proj": 1.0, "v_proj": 1.0, "o_proj": 1.0, "gate_proj": 1.0, "up_proj": 1.0,
             "down_proj": 1.0, "gate_up_proj": 1.0, "mlp.gate.weight": 1.0, "lm_head": 3.0}
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith("inv_freq"):
                continue  # RoPE tables, derived from the config
            if name == "model.embed_tokens.weight":
                normal(t, 1.0)
            elif name.endswith("layernorm.weight") or name == "model.norm.weight":
                t.copy_(1.0 + 0.1 * torch.randn(t.shape, generator=gen))
            elif name.endswith("self_attn.sinks"):
                uniform(t, -1.0, 1.0)
            elif name.endswith("e_score_correction_bias"):
                uniform(t, -0.05, 0.05)
            else:
                key = next((k for k in gains if k in name), None)
                if key is None:
                    raise ValueError(f"init_weights: no rule for tensor {name!r} of shape {tuple(t.shape)}")
                normal(t, gains[key] / math.sqrt(t.shape[-1]))


def f32_json(values):
    """9 significant digits: the f32 values round-trip exactly (6 digits would cost up to 5e-5 at |logit| ~10,
    ten times the f32-vs-f64 gap an f32 comparison should be held to)."""
    return [float(f"{v:.9g}") for v in values.float().tolist()]


def margin(logits):
    top = torch.topk(logits.double(), 2).values
    return float(f"{(top[0] - top[1]).item():.6g}")


class RouterGapProbe:
    """Smallest gap between the k-th and (k+1)-th biased router score over every token seen: how close a routing
    decision came to flipping (an independent f32 implementation must agree on the chosen experts)."""

    def __init__(self, model):
        self.min_gap = math.inf
        self.handles = [m.register_forward_hook(self.hook) for n, m in model.named_modules() if n.endswith("mlp.gate")]

    def hook(self, module, args, output):
        router_logits = output[0].float()
        choice = router_logits.sigmoid() + module.e_score_correction_bias.float()
        top = torch.topk(choice, module.top_k + 1, dim=-1).values
        self.min_gap = min(self.min_gap, (top[:, -2] - top[:, -1]).min().item())

    def remove(self):
        for h in self.handles:
            h.remove()


@torch.no_grad()
def greedy(model, prompt, steps):
    """Prefill, then feed one token at a time through past_key_values, like generate does. argmax returns the
    first maximal index, i.e. ties go to the lower id."""
    ids = torch.tensor([prompt])
    out = model(input_ids=ids, use_cache=True)
    last = out.logits[0, -1]
    past, logits, tokens = out.past_key_values, last, []
    step_logits = []
    for _ in range(steps):
        tok = int(torch.argmax(logits).item())
        tokens.append(tok)
        out = model(input_ids=torch.tensor([[tok]]), past_key_values=past, use_cache=True)
        past, logits = out.past_key_values, out.logits[0, -1]
        step_logits.append(logits)
    return last, tokens, step_logits


def load(path, dtype, config=None, experts="eager"):
    kwargs = {"config": config} if config is not None else {}
    model = MiMoV2FlashForCausalLM.from_pretrained(path, dtype=torch.bfloat16, attn_implementation="eager",
                                                   experts_implementation=experts, **kwargs)
    bias_dtypes = {m.e_score_correction_bias.dtype for n, m in model.named_modules() if n.endswith("mlp.gate")}
    if bias_dtypes != {torch.float32}:
        raise RuntimeError(f"load: e_score_correction_bias dtypes {bias_dtypes}, expected float32 only")
    return (model.float() if dtype == torch.float32 else model).eval()


def structure(model):
    """What the model was built with, per layer: the facts a config form has to get right."""
    layers = []
    for i, layer in enumerate(model.model.layers):
        a = layer.self_attn
        layers.append({
            "type": a.layer_type, "q_heads": a.q_proj.out_features // a.head_dim,
            "kv_heads": a.k_proj.out_features // a.head_dim, "v_head_dim": a.v_head_dim, "head_dim": a.head_dim,
            "sink": a.sinks is not None, "window": a.sliding_window, "v_scale": a.v_scale,
            "mlp": type(layer.mlp).__name__, "eps": layer.input_layernorm.variance_epsilon,
        })
    rope = {k: getattr(model.model.rotary_emb, f"{k}_inv_freq").tolist() for k in model.model.rotary_emb.layer_types}
    return {"layers": layers, "rope_inv_freq": rope, "final_eps": model.model.norm.variance_epsilon}


def check(cond, what):
    if not cond:
        sys.exit(f"make-reference-fixture: self-check failed: {what}")


def pre_norm_hidden(model, prompt):
    """The residual stream entering model.norm (the MTP input) at the last position."""
    captured = {}

    def keep_norm_input(module, args):
        captured["h"] = args[0][0, -1].clone()  # returns None: a pre-hook's return value would replace the input

    handle = model.model.norm.register_forward_pre_hook(keep_norm_input)
    model(input_ids=torch.tensor([prompt]))
    handle.remove()
    model.config.tie_last_hidden_states = False  # the config object is shared with model.model, which reads it
    hs = model(input_ids=torch.tensor([prompt]), output_hidden_states=True).hidden_states
    del model.config.tie_last_hidden_states
    check(len(hs) == 7 and torch.equal(hs[6][0, -1], captured["h"]), "pre-norm hidden state hook vs hidden_states[6]")
    return captured["h"]


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "tiny-hf"))
    out_dir = os.path.normpath(ap.parse_args().out)
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # reduction order, hence the f32 bits, independent of the machine's core count

    gen = torch.Generator().manual_seed(SEED)
    config = native_config()
    config._attn_implementation = "eager"
    model = MiMoV2FlashForCausalLM(config)
    init_weights(model, gen)
    biases = {n: b.clone() for n, b in model.named_buffers() if n.endswith("e_score_correction_bias")}
    model.to(torch.bfloat16)
    for n, b in biases.items():  # transformers keeps this buffer in f32; don't let it round through bf16
        model.get_submodule(n.rsplit(".", 1)[0]).e_score_correction_bias = b
    model.save_pretrained(out_dir)
    with open(os.path.join(out_dir, "config.published.json"), "w") as f:
        json.dump(PUBLISHED_CONFIG, f, indent=2)
        f.write("\n")

    with safe_open(os.path.join(out_dir, "model.safetensors"), "pt") as f:
        saved = {k: str(f.get_slice(k).get_dtype()) for k in f.keys()}
    f32_tensors = sorted(k for k, d in saved.items() if d != "BF16")
    check(all(k.endswith("e_score_correction_bias") and saved[k] == "F32" for k in f32_tensors),
          f"only e_score_correction_bias may be non-bf16, got {f32_tensors}")

    model = load(out_dir, torch.float32)
    with open(os.path.join(out_dir, "config.published.json")) as f:
        published = MiMoV2FlashConfig.from_dict(json.load(f))
    model_pub = load(out_dir, torch.float32, config=published)
    s_native, s_pub = structure(model), structure(model_pub)
    check(s_native == s_pub, f"published-form model structure differs:\n{s_native}\n{s_pub}")

    prompt_gen = torch.Generator().manual_seed(SEED + 1)
    prompts = [torch.randint(0, PROMPT_VOCAB, (n,), generator=prompt_gen).tolist() for n in PROMPT_LENGTHS]

    cases, checks = [], {"published_config_same_structure": True}
    worst_cache_diff, raw = 0.0, []  # raw: the unrounded f32 logits per case, [1 + DECODE_STEPS, vocab]
    for i, prompt in enumerate(prompts):
        probe = RouterGapProbe(model)
        last, tokens, step_logits = greedy(model, prompt, DECODE_STEPS)
        probe.remove()
        # Uncached forward over prompt + generated tokens: the decode path through the cache must agree.
        full = model(input_ids=torch.tensor([prompt + tokens]), use_cache=False).logits[0].float()
        cached = torch.stack([last] + step_logits)
        raw.append(cached)
        worst_cache_diff = max(worst_cache_diff, (full[len(prompt) - 1:] - cached).abs().max().item())
        gen_ids = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                 max_new_tokens=DECODE_STEPS, do_sample=False, disable_compile=True)[0].tolist()
        check(gen_ids[len(prompt):] == tokens, f"prompt {i + 1}: generate {gen_ids[len(prompt):]} != greedy {tokens}")
        pub_last = model_pub(input_ids=torch.tensor([prompt])).logits[0, -1].float()
        check(torch.equal(pub_last, last), f"prompt {i + 1}: published-form logits differ from save_pretrained form")
        cases.append({
            "name": f"prompt{i + 1}_len{len(prompt)}", "prompt": prompt,
            "last_logits": f32_json(last), "last_margin": margin(last),
            "steps": [{"token": t, "logits": f32_json(l), "margin": margin(l)} for t, l in zip(tokens, step_logits)],
            "router_min_gap": float(f"{probe.min_gap:.6g}"),
        })
    check(worst_cache_diff < 1e-4, f"cached decode vs uncached forward max |diff| {worst_cache_diff}")
    # The same weights in f64 (transformers still runs RMSNorm, the router logits and RoPE tables in f32 there):
    # roughly how far the recorded f32 values are from exact, i.e. the floor for any f32 comparison.
    f64 = copy.deepcopy(model).double()
    worst_f64_diff = 0.0
    for prompt, case, f32_logits in zip(prompts, cases, raw):
        last, tokens, step_logits = greedy(f64, prompt, DECODE_STEPS)
        check(tokens == [s["token"] for s in case["steps"]], f"{case['name']}: f64 greedy tokens differ from f32")
        worst_f64_diff = max(worst_f64_diff, (torch.stack([last] + step_logits) - f32_logits).abs().max().item())
    checks["f64_tokens_match"] = True
    checks["f32_vs_f64_max_abs_diff"] = float(f"{worst_f64_diff:.3g}")
    checks["cached_vs_uncached_max_abs_diff"] = float(f"{worst_cache_diff:.3g}")
    checks["generate_matches_greedy_loop"] = True

    pre_norm = pre_norm_hidden(model, prompts[0])

    bf16 = load(out_dir, torch.bfloat16)
    b_last, b_tokens, _ = greedy(bf16, prompts[1], DECODE_STEPS)
    f_last = model(input_ids=torch.tensor([prompts[1]])).logits[0, -1]
    # transformers' default experts path (grouped_mm) sums the top-k expert outputs in f32 before the bf16 cast;
    # eager index_adds each one into a bf16 buffer. Same maths, different bf16 roundings.
    for dtype in (torch.float32, torch.bfloat16):
        grouped = load(out_dir, dtype, experts="grouped_mm")(input_ids=torch.tensor([prompts[1]])).logits[0, -1]
        ref = f_last if dtype == torch.float32 else b_last
        checks[f"{str(dtype)[6:]}_grouped_mm_vs_eager_experts_max_abs_diff"] = float(f"{(grouped.float() - ref.float()).abs().max().item():.3g}")

    f32_tokens = [s["token"] for s in cases[1]["steps"]]
    margins = [c["last_margin"] for c in cases] + [s["margin"] for c in cases for s in c["steps"]]
    reference = {
        "about": "transformers 5.18.0 MiMoV2FlashForCausalLM, eager attention, f32 compute on the bf16 checkpoint "
                 "(model.float()); written by scripts/make-reference-fixture.py; f32 values written with 9 significant digits "
                 "(exact); margins and diffs rounded",
        "torch": torch.__version__, "seed": SEED, "decode_steps": DECODE_STEPS,
        "cases": cases,
        "bf16": {
            "case": cases[1]["name"], "prompt": prompts[1], "tokens": b_tokens, "last_logits": f32_json(b_last),
            "tokens_match_f32": b_tokens == f32_tokens,
            "first_divergent_step": next((i for i, (a, b) in enumerate(zip(b_tokens, f32_tokens)) if a != b), None),
            "last_logits_max_abs_diff_vs_f32": float(f"{(b_last.float() - f_last).abs().max().item():.4g}"),
        },
        "pre_norm_hidden": {"case": cases[0]["name"], "position": len(prompts[0]) - 1,
                            "values": f32_json(pre_norm),
                            "note": "input of model.norm; output_hidden_states[6] is post-norm unless "
                                    "config.tie_last_hidden_states=False"},
        "stats": {"logit_std_mean": float(f"{torch.stack([torch.tensor(c['last_logits']) for c in cases]).std(dim=1).mean().item():.4g}"),
                  "min_margin": min(margins), "margins_below_0.05": sum(m < 0.05 for m in margins),
                  "recorded_positions": len(margins)},
        "checks": checks,
    }
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(reference, f, separators=(",", ":"))
        f.write("\n")
    print(json.dumps({"out": out_dir, "stats": reference["stats"], "checks": checks,
                      "router_min_gap": [c["router_min_gap"] for c in cases],
                      "bf16": {k: v for k, v in reference["bf16"].items() if k not in ("prompt", "last_logits")}}))


if __name__ == "__main__":
    main()
