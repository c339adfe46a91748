{
  "variables": { "speedrun_dnnl%": 0 },
  "targets": [
    {
      "target_name": "speedrun_blas",
      "sources": ["blas.c", "kernels.c", "ngpt.c", "elementwise.c", "muon.c", "heads.c"],
      "include_dirs": ["/usr/include/x86_64-linux-gnu", "/usr/include/openblas"],
      "libraries": ["-lopenblas"],
      "cflags": ["-O3", "-march=native", "-ffast-math"],
      "conditions": [
        ["speedrun_dnnl==1", { "sources": ["int8.c"], "defines": ["SPEEDRUN_DNNL"], "libraries": ["-ldnnl"] }]
      ]
    }
  ]
}
