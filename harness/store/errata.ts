/**
 * Errata: committed bundles whose measurements stand but one derived figure is known to be wrong, because of a
 * bug in the speedrun that wrote them. Bundles are immutable, so the correction lives here, keyed by the bundle's
 * checksum (honoured only after verifyBundle has recomputed that checksum, so no other content can claim one).
 * `verify` prints the erratum as a note; `import` stores the corrected figures instead of the written ones.
 */
export interface Erratum {
  /** Which figures are wrong: the compute figures are then counted again from the bundled config. */
  figures: 'model-flops';
  why: string;
}

const INT8_FLOPS: Erratum = {
  figures: 'model-flops',
  why: "model and executed FLOPs were counted without int8's products, which the recipe took or left by shape, so the per-token fit was wrong; the figures are counted again from the config",
};

/** The int8 suite runs of 2026-12-02 (Intel Xeon, native with oneDNN). */
const ERRATA: Readonly<Record<string, Erratum>> = {
  'sha256:26dc659695d6d9767d4f1949c6f4f1af0650c0e7be2b13a8170db52cc404b9cf': INT8_FLOPS,
  'sha256:89bafef9118edeec95bc23b239d0432e24de948d1a2685d7b1356a717c140f3e': INT8_FLOPS,
  'sha256:71bef14583ede6cd2486c19b4a2e7824fd2e6b224b4e70591b813765849b83b8': INT8_FLOPS,
  'sha256:e05f36fbd8bc53c89b2825dd96ec662dc09a041e927fdf367f64e99155f139e9': INT8_FLOPS,
  'sha256:16829f1e2883b751b2471b4f83384a0f9920ade094deff9e19e1f5e5b8356098': INT8_FLOPS,
  'sha256:f417c7a00b1902217c71d9d0933633b2ce29a2380029933ff79e4b774694169c': INT8_FLOPS,
  'sha256:43b38e503708095268baabedc8dc1e853b635a6fc8c875ce14177592f7825edb': INT8_FLOPS,
  'sha256:5d9b520348faf8326b632a0219f191151c75fa8cbc6fe57b841c97857cfabbf9': INT8_FLOPS,
  'sha256:020f3b574f4ea532d856c8ff28be161eec6f82789e4daf89dfdf78578228091d': INT8_FLOPS,
  'sha256:6d5fae6d0e068eadabdce24c8cc9135599ac8afb0d2d2a06ce40b24beb1cfa27': INT8_FLOPS,
  'sha256:1b7bd632c305f973b2211ff9906fd02fc0c7ac9cf9a3f20d8c5bdc65e5f19018': INT8_FLOPS,
  'sha256:207ef0f2b40916520556eb06dd44b31d03e415845c917dac2f0fd7bc18de9526': INT8_FLOPS,
};

/** The erratum of a bundle whose checksum has been verified; undefined for every other bundle. */
export const erratumOf = (verifiedChecksum: string): Erratum | undefined => (Object.hasOwn(ERRATA, verifiedChecksum) ? ERRATA[verifiedChecksum] : undefined);
