#!/bin/sh
# The GPU measurement, as one prepared call on a machine with no Node.js and no network (the device machine):
#  1. unpacks a speedrun kit (`speedrun pack`), sets up Vulkan from carried loaders (.gl/*.deb, see below);
#  2. prints the adapter Dawn reports (`speedrun list`);
#  3. times gpt2-small training steps on webgpu for baseline and fused-kernels, with MFU against the GPU's
#     published fp32 peak (harness/peaks.ts), each one speedrun run;
#  4. times the same model in PyTorch in the same call (bench/pytorch-gpt2.py: eager, and torch.compile).
# Rehearse it on a CPU first (webgpu on lavapipe, PyTorch on the CPU, a tiny preset):
#   bench/gpu/run.sh speedrun-kit.tar.xz micro 5 cpu
# On the GPU machine (the kit and .gl/ carried; see the README's "GPU" section):
#   bench/gpu/run.sh speedrun-kit.tar.xz gpt2-small 20 cuda
# Prints one line per measurement; writes them to $OUT/gpu.txt when $OUT is set. PYTHON picks the interpreter
# that has PyTorch (default python3).
set -eu
kit=${1:?usage: bench/gpu/run.sh KIT.tar.xz [preset=gpt2-small] [steps=20] [device=cuda]}
preset=${2:-gpt2-small}
steps=${3:-20}
device=${4:-cuda}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
report=${OUT:-$work}/gpu.txt
say() { echo "$*" | tee -a "$report"; }

tar -C "$work" -xJf "$kit"
# Vulkan: Debian's loaders carried as .deb files in .gl/ (`apt-get download libvulkan1 ...` on a machine with apt).
if [ -d "$here/.gl" ]; then
  for f in "$here"/.gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nvidia_icd" ]; then export VK_DRIVER_FILES="$nvidia_icd"; fi
speedrun="$work/speedrun-kit/speedrun"

say "== machine: $(uname -m), $(nproc) cores; $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
say "== speedrun list (backends)"
"$speedrun" list | sed -n '/^Backends/,$p' | tee -a "$report"

peak=$("$work/speedrun-kit/node" --input-type=module -e "
  const { publishedPeak } = await import('$work/speedrun-kit/app/dist/harness/peaks.js');
  const gpus = (process.argv[1] ?? '').split('\n').filter(Boolean);
  console.log(publishedPeak({ name: 'webgpu' }, gpus)?.flopsPerSec ?? 0);
" "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || true)")
say "== published fp32 peak: $peak FLOP/s"

for recipe in baseline fused-kernels; do
  out="$work/results-$recipe"
  if "$speedrun" --backend webgpu --preset "$preset" --recipe "$recipe" --steps "$steps" --force -q --out "$out" > "$work/$recipe.log" 2>&1; then :; fi
  say "== speedrun webgpu $preset --recipe $recipe ($steps steps)"
  grep -E "^(status|tokens/s|FLOPs|MFU|backend|peak memory)" "$work/$recipe.log" | tee -a "$report" || tail -5 "$work/$recipe.log" | tee -a "$report"
  for run in "$out"/runs/*/run.json; do
    [ -f "$run" ] && "$work/speedrun-kit/node" -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log("adapter (Dawn):", JSON.stringify(r.backend.adapter ?? null), "| notes:", r.notes.join("; "))' "$run" | tee -a "$report"
  done
done

say "== PyTorch, the same model ($device)"
"${PYTHON:-python3}" "$here/bench/pytorch-gpt2.py" --device "$device" --preset "$preset" --steps "$steps" --peak "$peak" --compile 2>&1 | tee -a "$report"
