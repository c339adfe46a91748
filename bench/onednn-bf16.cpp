/*
 * A probe, not part of the build: does this CPU make bf16 matrix products faster than fp32 ones? oneDNN
 * (Debian's libdnnl-dev 2.6.3) picks the best kernel the CPU's instructions allow and says which one.
 *   apt-get install libdnnl-dev && g++ -O2 bench/onednn-bf16.cpp -o /tmp/onednn-bf16 -ldnnl
 *   ONEDNN_VERBOSE=1 /tmp/onednn-bf16 | grep -E 'isa|GFLOP|exec'
 * Measured here (2026-11-24, two runs): oneDNN reports "Intel AVX-512 with Intel DL Boost" (no AVX512_BF16 in
 * the VM's CPU flags), runs fp32 with brg:avx512_core (160-282 GFLOP/s at the nano shapes, the machine drifts)
 * and bf16 with gemm:jit, an emulation, at 30-58 GFLOP/s: bf16 is 0.17-0.24x fp32 in the same run.
 */
#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

using namespace dnnl;

/** Median GFLOP/s of 50 products C[M,N] (fp32) = A[M,K] · B[K,N] with A and B in `type`. */
static double gflops(engine &eng, stream &s, int M, int K, int N, memory::data_type type) {
  memory::desc a({M, K}, type, memory::format_tag::ab), b({K, N}, type, memory::format_tag::ab);
  memory::desc c({M, N}, memory::data_type::f32, memory::format_tag::ab);
  matmul product(matmul::primitive_desc(matmul::desc(a, b, c), eng));
  memory A(a, eng), B(b, eng), C(c, eng);
  std::vector<double> seconds;
  for (int i = 0; i < 50; i++) {
    auto start = std::chrono::steady_clock::now();
    product.execute(s, {{DNNL_ARG_SRC, A}, {DNNL_ARG_WEIGHTS, B}, {DNNL_ARG_DST, C}});
    s.wait();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  return 2.0 * M * K * N / seconds[seconds.size() / 2] / 1e9;
}

int main() {
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  const int shapes[][3] = {{768, 128, 384}, {768, 512, 128}, {768, 128, 512}, {768, 128, 128}, {1024, 1024, 1024}};
  for (const auto &shape : shapes) {
    const double fp32 = gflops(eng, s, shape[0], shape[1], shape[2], memory::data_type::f32);
    const double bf16 = gflops(eng, s, shape[0], shape[1], shape[2], memory::data_type::bf16);
    std::printf("%dx%dx%d: fp32 %.1f, bf16 %.1f GFLOP/s (bf16/fp32 %.2f)\n", shape[0], shape[1], shape[2], fp32, bf16, bf16 / fp32);
  }
}
