/**
 * The run's event log: one JSON object per line, shaped like MLPerf's MLLOG records
 * ({time_ms, event_type, key, value, metadata}), written synchronously so a crash keeps every line before it.
 * With `--mllog` each record is also printed to stdout as `:::MLLOG {...}`.
 */
import * as fs from 'node:fs';

export type EventType = 'INTERVAL_START' | 'INTERVAL_END' | 'POINT_IN_TIME';

export interface EventRecord {
  namespace: 'speedrun';
  time_ms: number;
  event_type: EventType;
  key: string;
  value: unknown;
  metadata: Record<string, unknown>;
}

export interface EventSink {
  emit(eventType: EventType, key: string, value: unknown, metadata?: Record<string, unknown>): void;
  close(): void;
}

export class EventLog implements EventSink {
  private fd: number | undefined;

  constructor(
    readonly file: string | undefined,
    private readonly mllog: boolean,
    private readonly print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {
    if (file) this.fd = fs.openSync(file, 'a');
  }

  emit(eventType: EventType, key: string, value: unknown, metadata: Record<string, unknown> = {}): void {
    const record: EventRecord = { namespace: 'speedrun', time_ms: Date.now(), event_type: eventType, key, value, metadata };
    const line = JSON.stringify(record);
    if (this.fd !== undefined) fs.writeSync(this.fd, `${line}\n`);
    if (this.mllog) this.print(`:::MLLOG ${line}`);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

export function readEventLog(file: string): EventRecord[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as EventRecord);
}
