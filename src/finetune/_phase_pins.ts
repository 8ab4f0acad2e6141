// Groups frozen via 'lr0' sit at lr 0 in the optimizer while the schedule goes on for them: their
// real lrs (the "shadow" lrs) live here. Schedulers read and write group.lr, so around every
// scheduler call the real lrs go in and the zeros come back after (withReal): no scheduler can
// move a pinned group. The optimizer's groups are passed in on each call because an optimizer
// switch replaces them.
import type { ParamGroupLike } from '../optim/index.ts';

type Groups = { lr: number }[] | ParamGroupLike[];

export class PinnedLrs {
  #pinned = new Set<number>();
  #shadow: number[];

  constructor(lrs: number[]) {
    this.#shadow = [...lrs];
  }

  /** The pinned groups' indices. */
  get indices(): number[] {
    return [...this.#pinned];
  }

  /** Each group's lr as the schedule has it (pinned groups: the lr they return to when unpinned). */
  lrs(groups: Groups): number[] {
    return groups.map((g, i) => (this.#pinned.has(i) ? this.#shadow[i]! : g.lr));
  }

  /** Sets a group's lr as the schedule has it (a pinned group keeps lr 0 in the optimizer). */
  set(groups: Groups, gi: number, v: number): void {
    if (this.#pinned.has(gi)) this.#shadow[gi] = v;
    else groups[gi]!.lr = v;
  }

  /** Pins exactly `pinned`: newly pinned groups keep their lr here and go to 0, unpinned ones get theirs back. */
  pin(groups: Groups, pinned: Set<number>): void {
    for (const gi of this.#pinned) if (!pinned.has(gi)) groups[gi]!.lr = this.#shadow[gi]!;
    for (const gi of pinned)
      if (!this.#pinned.has(gi)) {
        this.#shadow[gi] = groups[gi]!.lr;
        groups[gi]!.lr = 0;
      }
    this.#pinned = pinned;
  }

  /** Runs fn (a scheduler call) with the real lrs in the pinned groups, then puts the zeros back. */
  withReal(groups: Groups, fn: () => void): void {
    for (const gi of this.#pinned) groups[gi]!.lr = this.#shadow[gi]!;
    try {
      fn();
    } finally {
      for (const gi of this.#pinned) {
        this.#shadow[gi] = groups[gi]!.lr;
        groups[gi]!.lr = 0;
      }
    }
  }

  /** Forgets the pins (the optimizer's groups are not touched): before a resume re-applies them. */
  clear(): void {
    this.#pinned = new Set();
  }

  /** A stateDict's pins and shadow lrs back. */
  restore(shadow: number[], pinned: number[]): void {
    this.#shadow = [...shadow];
    this.#pinned = new Set(pinned);
  }

  /** The shadow lrs (stateDict). */
  get shadow(): number[] {
    return [...this.#shadow];
  }
}
