// Checkpoints: last.pth after every epoch (and every N steps if asked), best.pth for the best epoch
// by the trainer's monitor, epoch-NNNN.pth for the last `keep` epochs. Every file is written to a
// temp name and renamed: the previous checkpoint stays whole until the new one is complete.
//
// Which file is best and which epoch copies exist is recorded inside each checkpoint (as Hugging
// Face's best_model_checkpoint / Lightning's best_model_path): the record is written first (in
// last.pth), the copies follow. A kill between the two leaves the folder behind its record; resume
// repairs it from the checkpoint it resumes (a best.pth one best-epoch behind, a missing keep-copy)
// or, where the bytes are gone, corrects the record, so best.pth always holds the recorded best.
import { existsSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ArgumentError } from '../../errors.ts';
import {
  type CheckpointWriter,
  checkpointName,
  copyCheckpoint,
  defaultWriter,
  readCheckpoint,
  removeStaleTemps,
  sameBytes,
  writeCheckpoint,
} from '../checkpoint.ts';
import type { Callback } from '../events.ts';
import { faultPoint } from '../faults.ts';
import type { Trainer } from '../trainer.ts';

export interface CheckpointOptions {
  /** folder for last.pth, best.pth, epoch-NNNN.pth */
  dir: string;
  /** also keep epoch-NNNN.pth for the last `keep` epochs (default 0) */
  keep?: number;
  /** write last.pth every N optimizer steps too (mid-epoch resume points) */
  everySteps?: number;
  /** copy the best epoch's checkpoint to best.pth (default true) */
  best?: boolean;
  /** how a checkpoint file is written (default: src/io's writePth) */
  writer?: CheckpointWriter;
}

/** The checkpoint files a checkpoint says exist (names relative to the checkpoint folder). */
export interface CheckpointRecord {
  /** 'best.pth' once a best epoch exists (and best copies are on), else null */
  best_model_checkpoint: string | null;
  /** the 0-based epoch best.pth holds the end of */
  best_epoch: number | null;
  /** the epoch-NNNN.pth copies, oldest first */
  kept: string[];
}

const emptyRecord = (): CheckpointRecord => ({ best_model_checkpoint: null, best_epoch: null, kept: [] });
const EPOCH_FILE = /^epoch-(\d+)\.pth$/;
/** an int from a loaded checkpoint (pickle ints may come back as bigint) */
const intOrNull = (v: unknown): number | null => (typeof v === 'number' || typeof v === 'bigint' ? Number(v) : null);

export class CheckpointCallback implements Callback {
  readonly name = 'checkpoint';
  // last in every event: the other callbacks' state is up to date when it is saved
  readonly order = 100;
  readonly dir: string;
  readonly keep: number;
  readonly everySteps: number | undefined;
  readonly best: boolean;
  readonly writer: CheckpointWriter;
  /** what the last resume repaired or corrected in the folder (empty when it was consistent) */
  repairs: string[] = [];
  #record: CheckpointRecord = emptyRecord();
  #restored: CheckpointRecord | undefined;

  constructor(o: CheckpointOptions) {
    this.dir = o.dir;
    this.keep = o.keep ?? 0;
    this.everySteps = o.everySteps;
    this.best = o.best ?? true;
    this.writer = o.writer ?? defaultWriter;
    if (this.everySteps !== undefined && (!Number.isInteger(this.everySteps) || this.everySteps < 1))
      throw new ArgumentError(`checkpoint.everySteps must be an integer >= 1, got ${this.everySteps}`);
    if (!Number.isInteger(this.keep) || this.keep < 0)
      throw new ArgumentError(`checkpoint.keep must be an integer >= 0, got ${this.keep}`);
  }

  get lastPath(): string {
    return join(this.dir, 'last.pth');
  }
  get bestPath(): string {
    return join(this.dir, 'best.pth');
  }
  /** the record the next checkpoint carries */
  get record(): CheckpointRecord {
    return { ...this.#record, kept: [...this.#record.kept] };
  }

  stateDict(): Record<string, unknown> {
    return { ...this.record };
  }

  loadStateDict(s: Record<string, unknown>): void {
    this.#restored = {
      best_model_checkpoint: typeof s.best_model_checkpoint === 'string' ? s.best_model_checkpoint : null,
      best_epoch: intOrNull(s.best_epoch),
      kept: Array.isArray(s.kept) ? s.kept.filter((n): n is string => typeof n === 'string') : [],
    };
  }

  beforeFit(t: Trainer): void {
    mkdirSync(this.dir, { recursive: true });
    removeStaleTemps(this.dir);
    this.repairs = [];
    this.#record = emptyRecord();
    if (t.resumedFrom) {
      // a checkpoint from before the record existed: its trainer state still names the best epoch
      const rec = this.#restored ?? {
        best_model_checkpoint: t.best && this.best ? 'best.pth' : null,
        best_epoch: t.best?.epoch ?? null,
        kept: [],
      };
      this.#repair(t, rec);
      for (const r of this.repairs) console.error(`graft: checkpoints: ${r}`);
    }
    this.#restored = undefined;
  }

  /** Makes the folder match the resumed checkpoint's record (or the record match the folder). */
  #repair(t: Trainer, rec: CheckpointRecord): void {
    const from = t.resumedFrom!;
    const { epoch, batch } = t.position;
    // the resumed checkpoint is the state at the end of epoch `epoch - 1` (0-based)
    const endOf = batch === 0 ? epoch - 1 : undefined;
    this.#record = { ...rec, kept: [] };
    if (this.best && rec.best_model_checkpoint !== null && rec.best_epoch !== null) {
      if (rec.best_epoch === endOf) {
        if (!sameBytes(from, this.bestPath)) {
          copyCheckpoint(from, this.bestPath);
          this.repairs.push(`best.pth was behind its record: recreated from ${basename(from)} (epoch ${epoch})`);
        }
      } else {
        let held = this.#bestHeld();
        // the recorded best epoch's keep-copy still has its bytes
        const copy = checkpointName(this.dir, rec.best_epoch + 1);
        if (
          held?.epoch !== rec.best_epoch &&
          basename(copy) !== basename(from) &&
          this.#holdsEnd(copy, rec.best_epoch)
        ) {
          copyCheckpoint(copy, this.bestPath);
          this.repairs.push(`best.pth did not hold the recorded best epoch: recreated from ${basename(copy)}`);
          held = this.#bestHeld();
        }
        if (held?.epoch !== rec.best_epoch) {
          // the bytes of the recorded best are gone: the record follows what best.pth holds
          t.best = held;
          this.#record.best_epoch = held?.epoch ?? null;
          this.#record.best_model_checkpoint = held ? 'best.pth' : null;
          this.repairs.push(
            held
              ? `best.pth holds epoch ${held.epoch + 1}, not the recorded epoch ${rec.best_epoch + 1}: the record now names epoch ${held.epoch + 1}`
              : `best.pth (epoch ${rec.best_epoch + 1}) is missing, unreadable or another checkpoint: the best is tracked again from here`,
          );
        }
      }
    }
    for (const name of rec.kept) {
      const path = join(this.dir, name);
      if (!existsSync(path) && endOf !== undefined && name === basename(checkpointName(this.dir, epoch))) {
        copyCheckpoint(from, path);
        this.repairs.push(`${name} was missing: recreated from ${basename(from)}`);
      }
      if (existsSync(path)) this.#record.kept.push(name);
      else this.repairs.push(`${name} is missing and cannot be recreated (its weights were never saved elsewhere)`);
    }
    if (endOf !== undefined) this.#prune(epoch);
  }

  /** Whether `file` is a whole checkpoint taken at the end of 0-based `epoch`. */
  #holdsEnd(file: string, epoch: number): boolean {
    return this.#endEpoch(file)?.epoch === epoch;
  }

  /** The 0-based epoch whose end `file` holds, with that checkpoint's own best; undefined if unreadable or mid-epoch. */
  #endEpoch(file: string): { epoch: number; best: { epoch: number; value: number } | undefined } | undefined {
    if (!existsSync(file)) return undefined;
    try {
      const t = readCheckpoint(file).tree;
      if (Number(t.batch) !== 0) return undefined;
      const b = t.trainer?.best;
      const bestEpoch = intOrNull(b?.epoch);
      return {
        epoch: Number(t.epoch) - 1,
        best: bestEpoch === null ? undefined : { epoch: bestEpoch, value: Number(b.value) },
      };
    } catch {
      return undefined;
    }
  }

  /**
   * The best epoch best.pth holds: a checkpoint at an epoch's end that was its run's best then.
   * Undefined when it is missing, unreadable, or some other checkpoint.
   */
  #bestHeld(): { epoch: number; value: number } | undefined {
    const e = this.#endEpoch(this.bestPath);
    return e?.best && e.best.epoch === e.epoch ? e.best : undefined;
  }

  /** Removes keep-copies older than the window ending at `epoch` (1-based), the record's and strays. */
  #prune(epoch: number): void {
    if (this.keep <= 0) return;
    const oldest = epoch - this.keep + 1;
    for (const n of readdirSync(this.dir)) {
      const m = EPOCH_FILE.exec(n);
      if (m && Number(m[1]) < oldest) unlinkSync(join(this.dir, n));
    }
    this.#record.kept = this.#record.kept.filter((n) => existsSync(join(this.dir, n)));
  }

  save(t: Trainer): string {
    writeCheckpoint(this.lastPath, t.checkpointState(), this.writer);
    t.lastCheckpoint = this.lastPath;
    return this.lastPath;
  }

  afterBatch(t: Trainer): void {
    if (this.everySteps && t.stepped && t.step % this.everySteps === 0) this.save(t);
  }

  afterEpoch(t: Trainer): void {
    const epoch = t.epoch + 1;
    const copyBest = this.best && t.isBestEpoch;
    const keepName = basename(checkpointName(this.dir, epoch));
    // the record first (inside last.pth), then the files it names
    if (copyBest) this.#record = { ...this.#record, best_model_checkpoint: 'best.pth', best_epoch: t.epoch };
    if (this.keep > 0) {
      const window = [...this.#record.kept.filter((n) => n !== keepName), keepName];
      this.#record.kept = window.slice(-this.keep);
    }
    this.save(t);
    faultPoint('after-last');
    if (copyBest) copyCheckpoint(this.lastPath, this.bestPath);
    if (this.keep > 0) {
      copyCheckpoint(this.lastPath, join(this.dir, keepName), 'keep-copy');
      this.#prune(epoch);
    }
  }

  /** A run stopped between epochs' ends (requestStop, SIGINT) is saved where it stopped. */
  afterFit(t: Trainer): void {
    if (!t.error && t.stopReason && t.position.batch !== 0 && t.atStepBoundary) this.save(t);
  }
}
