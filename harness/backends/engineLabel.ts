/**
 * The engine a run is filed under (the database's backend column, the leaderboard's rows, the stored peaks): the
 * backend's name, except native's kernels-only build (no OpenBLAS: its products on XNNPACK, about a third of
 * OpenBLAS's rate), which must never be compared with, or measured as, the OpenBLAS build.
 */
export function engineLabel(backend: { name: string; version: string }): string {
  return backend.name === 'native' && backend.version.startsWith('no BLAS') ? 'native (no BLAS)' : backend.name;
}
