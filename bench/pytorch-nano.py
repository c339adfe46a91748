"""
The reference the native issue's bar names: PyTorch nanoGPT's CPU config (4 layers, 4 heads, width 128,
context 64, batch 12), timed in the same run as speedrun's own steps so that the ratio does not depend on the
hour (this machine drifts by 15-25 %). The model follows nanoGPT's model.py at that config: pre-norm blocks
without biases, causal attention (torch 1.13 has no scaled_dot_product_attention, so nanoGPT takes its manual
path), GELU MLP, tied head; AdamW (weight decay on matrices), gradient clipping at 1.0, as nanoGPT's train.py.

PyTorch from Debian uses the system OpenBLAS for its products and, on this VM, one intra-op thread (its CPU
probe counts one core; OMP_NUM_THREADS=2 made steps 2-5x slower, fighting OpenBLAS's own two threads). Like
speedrun's native backend it needs OPENBLAS_CORETYPE=SkylakeX here (bench/run.ts sets it): 65 ms per step with
it, 126-166 ms with OpenBLAS's Prescott fallback.

Needs PyTorch (Debian: apt-get install python3-torch). Prints one JSON line: median ms per training step.
    python3 bench/pytorch-nano.py [steps=60]
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, BLOCK, BATCH, LAYERS, HEADS, WIDTH = 85, 64, 12, 4, 4, 128  # brown-char's vocabulary, the nano preset


class LayerNorm(nn.Module):
    """nanoGPT's LayerNorm with bias=False (torch 1.13's nn.LayerNorm always has one)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(WIDTH))

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, None, 1e-5)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(WIDTH, 3 * WIDTH, bias=False)
        self.c_proj = nn.Linear(WIDTH, WIDTH, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(BLOCK, BLOCK)).view(1, 1, BLOCK, BLOCK))

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(WIDTH, dim=2)
        q, k, v = (z.view(b, t, HEADS, c // HEADS).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = F.softmax(att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf")), dim=-1)
        return self.c_proj((att @ v).transpose(1, 2).contiguous().view(b, t, c))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = LayerNorm()
        self.attn = Attention()
        self.ln_2 = LayerNorm()
        self.mlp = nn.Sequential(nn.Linear(WIDTH, 4 * WIDTH, bias=False), nn.GELU(), nn.Linear(4 * WIDTH, WIDTH, bias=False))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, WIDTH)
        self.wpe = nn.Embedding(BLOCK, WIDTH)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = LayerNorm()
        self.head = nn.Linear(WIDTH, VOCAB, bias=False)
        self.head.weight = self.wte.weight  # tied, as nanoGPT

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, VOCAB), targets.view(-1))


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    torch.manual_seed(0)
    model = GPT()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.99))
    data = torch.randint(0, VOCAB, (steps + 5, BATCH, BLOCK + 1))
    times = []
    for i in range(steps + 5):
        start = time.perf_counter()
        x, y = data[i, :, :-1].contiguous(), data[i, :, 1:].contiguous()  # nanoGPT stacks fresh tensors
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()  # nanoGPT reads the loss every iteration
        if i >= 5:  # the first steps warm up allocators and thread pools
            times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "medianStepMs": statistics.median(times)}))


if __name__ == "__main__":
    main()
