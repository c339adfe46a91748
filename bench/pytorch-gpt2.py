"""
PyTorch beside speedrun's webgpu backend on a GPU, the same model in the same call (bench/gpu/run.sh): nanoGPT's
architecture at speedrun's presets (pre-norm blocks without biases, causal attention, GELU MLP, tied head; AdamW,
clip 1.0), random tokens, median ms per training step after warm-up, eager and, where it works, torch.compile.
fp32 throughout (TF32 off), as speedrun's webgpu backend computes, so the MFU figures share one peak.
    python3 bench/pytorch-gpt2.py [--device cuda] [--preset gpt2-small|micro] [--vocab 85] [--steps 20] [--compile]
Prints one JSON line per mode.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {  # speedrun's MODEL_PRESETS (harness/config.ts): layers, heads, width, context, batch
    "micro": (2, 2, 32, 32, 8),
    "nano": (4, 4, 128, 64, 12),
    "gpt2-small": (12, 12, 768, 1024, 8),
}


def layer_norm(width):
    """speedrun's LayerNorm has a gain and no bias (torch before 2.1 always adds one)."""
    return nn.LayerNorm(width, bias=False) if "bias" in nn.LayerNorm.__init__.__code__.co_varnames else nn.LayerNorm(width)


def causal_attention(q, k, v):
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    t = q.size(-2)  # torch 1.13 (Debian, for the CPU rehearsal): nanoGPT's manual path
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
    att = att.masked_fill(torch.ones(t, t, dtype=torch.bool, device=q.device).tril().logical_not(), float("-inf"))
    return F.softmax(att, dim=-1) @ v


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = layer_norm(width)
        self.c_attn = nn.Linear(width, 3 * width, bias=False)
        self.c_proj = nn.Linear(width, width, bias=False)
        self.ln_2 = layer_norm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width, bias=False), nn.GELU(approximate="tanh"), nn.Linear(4 * width, width, bias=False))

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = causal_attention(q, k, v)
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab, layers, heads, width, context):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = layer_norm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1), device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def model_flops_per_step(vocab, layers, width, context, batch):
    """speedrun's model FLOPs (harness/compute.ts): 3 x forward products, attention over the whole context."""
    per_token = layers * (24 * width * width + 4 * context * width) + 2 * width * vocab
    return 3 * batch * context * per_token


def measure(args, compiled):
    layers, heads, width, context, batch = PRESETS[args.preset]
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = GPT(args.vocab, layers, heads, width, context).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    step_model = torch.compile(model) if compiled else model
    data = torch.randint(0, args.vocab, (args.steps + 5, batch, context + 1), device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    for i in range(args.steps + 5):
        sync()
        start = time.perf_counter()
        loss = step_model(data[i, :, :-1], data[i, :, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
        sync()
        if i >= 5:
            times.append((time.perf_counter() - start) * 1000)
    ms = statistics.median(times)
    flops = model_flops_per_step(args.vocab, layers, width, context, batch)
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "mode": "compile" if compiled else "eager", "preset": args.preset, "medianStepMs": ms, "modelFlopsPerStep": flops}
    if args.peak:
        out["mfu"] = flops / (ms / 1000) / args.peak
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default="gpt2-small", choices=sorted(PRESETS))
    parser.add_argument("--vocab", type=int, default=85)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--peak", type=float, default=0.0, help="FLOP/s the MFU is relative to")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args()
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    print(json.dumps(measure(args, False)), flush=True)
    if args.compile:
        try:
            print(json.dumps(measure(args, True)), flush=True)
        except Exception as error:  # torch.compile needs a compiler toolchain; say why it is missing
            print(json.dumps({"mode": "compile", "error": str(error).splitlines()[0][:300]}), flush=True)


if __name__ == "__main__":
    main()
