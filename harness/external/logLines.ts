/**
 * A log file's lines, read in fixed-size chunks so that memory stays flat whatever the file holds: a line longer
 * than MAX_LINE_BYTES is cut there (and counted), a file over MAX_LOG_BYTES or one holding NUL bytes (binary) is
 * refused with its reason. Every trainer log passes through here; nothing else in external/ reads files.
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';

export const MAX_LOG_BYTES = 512 * 2 ** 20;
export const MAX_LINE_BYTES = 64 * 2 ** 10;
const CHUNK_BYTES = 1 << 20;

export type LogRead = { status: 'read'; sha256: string; bytes: number; longLines: number } | { status: 'refused'; reason: string };

/** Calls `onLine` for every line of `file` (without its newline); returns the file's sha256, or why it was refused. */
export function forEachLine(file: string, onLine: (line: string) => void): LogRead {
  const stat = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!stat) return { status: 'refused', reason: 'no such file' };
  if (!stat.isFile()) return { status: 'refused', reason: stat.isSymbolicLink() ? 'a symbolic link (not followed)' : 'not a regular file' };
  if (stat.size > MAX_LOG_BYTES) return { status: 'refused', reason: `${(stat.size / 2 ** 20).toFixed(0)} MB, over the ${MAX_LOG_BYTES / 2 ** 20} MB a log may have` };
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buffer = Buffer.alloc(CHUNK_BYTES);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let cut = false;
  let longLines = 0;
  let bytes = 0;
  const emit = () => {
    onLine(Buffer.concat(pending, pendingBytes).toString('utf8').replace(/\r$/, ''));
    pending = [];
    pendingBytes = 0;
    cut = false;
  };
  try {
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, CHUNK_BYTES, null);
      if (n === 0) break;
      const chunk = buffer.subarray(0, n);
      hash.update(chunk);
      bytes += n;
      if (chunk.includes(0)) return { status: 'refused', reason: 'binary (NUL bytes), not a text log' };
      let start = 0;
      for (let nl = chunk.indexOf(10, start); ; nl = chunk.indexOf(10, start)) {
        const end = nl === -1 ? n : nl;
        const room = MAX_LINE_BYTES - pendingBytes;
        if (end - start > room) {
          if (!cut) longLines++;
          cut = true;
        }
        const piece = chunk.subarray(start, start + Math.max(0, Math.min(end - start, room)));
        if (piece.length > 0) {
          pending.push(Buffer.from(piece));
          pendingBytes += piece.length;
        }
        if (nl === -1) break;
        emit();
        start = nl + 1;
      }
    }
    if (pendingBytes > 0) emit();
  } finally {
    fs.closeSync(fd);
  }
  return { status: 'read', sha256: hash.digest('hex'), bytes, longLines };
}
