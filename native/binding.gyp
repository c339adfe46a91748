{
  "variables": { "speedrun_dnnl%": 0, "speedrun_openblas%": 0, "speedrun_march%": "native" },
  "target_defaults": {
    "sources": ["addon.c", "kernels.c", "ngpt.c", "elementwise.c", "heads.c"],
    "cflags": ["-O3", "-march=<(speedrun_march)", "-ffast-math", "-fopenmp"],
    "ldflags": ["-fopenmp"],
    "conditions": [
      ["speedrun_dnnl==1", { "sources": ["int8.c"], "defines": ["SPEEDRUN_DNNL"], "libraries": ["-ldnnl"] }]
    ]
  },
  "targets": [
    { "target_name": "speedrun_kernels" }
  ],
  "conditions": [
    ["speedrun_openblas==1", {
      "targets": [
        {
          "target_name": "speedrun_blas",
          "sources": ["blas.c", "muon.c"],
          "defines": ["SPEEDRUN_OPENBLAS"],
          "include_dirs": ["/usr/include/x86_64-linux-gnu", "/usr/include/openblas"],
          "libraries": ["-lopenblas"]
        }
      ]
    }]
  ]
}
