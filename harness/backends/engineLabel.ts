/**
 * The engine a run is filed under (the database's backend column, the leaderboard's rows, the stored peaks): the
 * backend's name, except where native's products come from another library than OpenBLAS, whose rate they do
 * not share: its kernels-only build (no OpenBLAS: products on XNNPACK, about a third of OpenBLAS's rate) and its
 * oneDNN products (1.5-2.8x OpenBLAS's at the nano shapes). Runs of one are never compared with, or measured as,
 * another.
 */
export function engineLabel(backend: { name: string; version: string }): string {
  if (backend.name !== 'native') return backend.name;
  if (backend.version.startsWith(NO_BLAS_VERSION)) return 'native (no BLAS)';
  if (backend.version.startsWith(ONEDNN_VERSION)) return 'native (oneDNN)';
  return backend.name;
}

/** How native's backend version begins for each of those builds (harness/backends/index.ts writes them; bundles keep them). */
export const NO_BLAS_VERSION = 'no BLAS';
export const ONEDNN_VERSION = 'oneDNN sgemm';
