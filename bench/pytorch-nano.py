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

Needs PyTorch (Debian: apt-get install python3-torch). Prints one JSON line.
    python3 bench/pytorch-nano.py [steps=60]              median ms per training step (random tokens)
    python3 bench/pytorch-nano.py --text FILE --target T  train to a validation loss on a text file, under
                                                          speedrun's text:FILE protocol (below)
    ... --jsonl                                           also print each evaluation as speedrun's JSON lines, for
                                                          speedrun run --exec ... --log-format jsonl

Time to target mirrors speedrun's `text:FILE` track so both sides train on the same data to the same loss: the
characters sorted by code point as the vocabulary, the first 90 % of the code points for training and the rest
held out; the validation loss is the mean over the first 256 windows of 64 tokens of the held-out part (16384
tokens), evaluated every 50 steps outside the clock; speedrun's default schedule (linear warm-up over 100 steps,
cosine from 1e-3 to 1e-4 at step 2000), AdamW (0.9, 0.99, weight decay 0.1 on matrices), clip 1.0. Batches are
random windows (nanoGPT's get_batch), so the step at which the target is reached varies with the seed as
speedrun's does.
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BLOCK, BATCH, LAYERS, HEADS, WIDTH = 64, 12, 4, 4, 128  # the nano preset
VOCAB = 85  # brown-char's vocabulary; a --text run sets its own


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
        # nanoGPT's _init_weights: N(0, 0.02) everywhere, the residual projections N(0, 0.02/√(2·layers)).
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * LAYERS) if name.endswith("c_proj.weight") or name.endswith("mlp.2.weight") else 0.02
                torch.nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, VOCAB), targets.view(-1))


def make_optimizer(model):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.99), eps=1e-8)


def train_step(model, optimizer, x, y):
    loss = model(x, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()  # nanoGPT reads the loss every iteration


def lr_factor(step, warmup=100, schedule=2000, floor=0.1):
    """speedrun's warmupCosine (harness/schedule.ts)."""
    if step < warmup:
        return (step + 1) / warmup
    if step >= schedule:
        return floor
    return floor + 0.5 * (1 + math.cos(math.pi * (step - warmup) / (schedule - warmup))) * (1 - floor)


def time_to_target(path, target, seed, max_steps=3000, eval_interval=50, eval_tokens=16384, jsonl=False):
    global VOCAB
    with open(path, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    VOCAB = len(chars)
    index = {ch: i for i, ch in enumerate(chars)}
    cut = int(len(text) * 0.9)
    train = torch.tensor([index[c] for c in text[:cut]], dtype=torch.long)
    val = torch.tensor([index[c] for c in text[cut:]], dtype=torch.long)
    windows = min(-(-eval_tokens // BLOCK), (len(val) - 1) // BLOCK)
    vx = torch.stack([val[w * BLOCK:(w + 1) * BLOCK] for w in range(windows)])
    vy = torch.stack([val[w * BLOCK + 1:(w + 1) * BLOCK + 1] for w in range(windows)])
    torch.manual_seed(seed)
    model = GPT()
    optimizer = make_optimizer(model)
    generator = torch.Generator().manual_seed(seed)

    def evaluate():
        model.eval()
        with torch.no_grad():
            total = sum(model(vx[i:i + BATCH], vy[i:i + BATCH]).item() * len(vx[i:i + BATCH]) for i in range(0, windows, BATCH))
        model.train()
        return total / windows

    train_s, times, loss = 0.0, [], float("nan")
    for step in range(max_steps):
        for group in optimizer.param_groups:
            group["lr"] = 1e-3 * lr_factor(step)
        start = time.perf_counter()
        ix = torch.randint(len(train) - BLOCK - 1, (BATCH,), generator=generator)
        x = torch.stack([train[i:i + BLOCK] for i in ix])
        y = torch.stack([train[i + 1:i + 1 + BLOCK] for i in ix])
        train_step(model, optimizer, x, y)
        elapsed = time.perf_counter() - start
        train_s += elapsed
        times.append(elapsed * 1000)
        if (step + 1) % eval_interval == 0:
            loss = evaluate()
            if jsonl:  # speedrun's JSON-lines log (speedrun run --exec ... --log-format jsonl)
                print(json.dumps({"step": step + 1, "val_loss": loss, "train_time_ms": train_s * 1000}), flush=True)
            if loss <= target:
                return {"reached": True, "steps": step + 1, "trainSeconds": train_s, "valLoss": loss, "medianStepMs": statistics.median(times)}
    return {"reached": False, "steps": max_steps, "trainSeconds": train_s, "valLoss": loss, "medianStepMs": statistics.median(times)}


def main():
    args = sys.argv[1:]
    if args and args[0] == "--text":
        path, target = args[1], float(args[args.index("--target") + 1])
        seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 0
        jsonl = "--jsonl" in args
        if jsonl:
            print(json.dumps({"software": {"pytorch": torch.__version__, "python": sys.version.split()[0]}}), flush=True)
        result = time_to_target(path, target, seed, jsonl=jsonl)
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), **result}))
        return
    steps = int(args[0]) if args else 60
    torch.manual_seed(0)
    model = GPT()
    optimizer = make_optimizer(model)
    data = torch.randint(0, VOCAB, (steps + 5, BATCH, BLOCK + 1))
    times = []
    for i in range(steps + 5):
        start = time.perf_counter()
        x, y = data[i, :, :-1].contiguous(), data[i, :, 1:].contiguous()  # nanoGPT stacks fresh tensors
        train_step(model, optimizer, x, y)
        if i >= 5:  # the first steps warm up allocators and thread pools
            times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "medianStepMs": statistics.median(times)}))


if __name__ == "__main__":
    main()
