// UnitFarm: which units go to which helper, what happens when a helper dies or answers late, and that the
// owner drains the same queue. Fake helpers record what they were sent.
import { describe, expect, it } from 'vitest';
import { HELPERS_MEMORY_BYTES, type HelperPort, REPLICA_BYTES_PER_SAMPLE, UnitFarm, workerCount } from '../shared/farm';

class FakeHelper implements HelperPort<string> {
  sent: { gen: number; id: number; unit: string }[] = [];
  send(gen: number, id: number, unit: string): void {
    this.sent.push({ gen, id, unit });
  }
  get ids(): number[] {
    return this.sent.map((s) => s.id);
  }
}

const units = (n: number) => Array.from({ length: n }, (_, i) => `u${i}`);

describe('UnitFarm', () => {
  it('keeps each helper `depth` units deep and refills it as it answers', () => {
    const farm = new UnitFarm<string>(2);
    const a = new FakeHelper();
    const b = new FakeHelper();
    farm.add(a);
    farm.add(b);
    farm.start(units(7));
    expect(a.ids).toEqual([0, 1]);
    expect(b.ids).toEqual([2, 3]);
    expect(farm.take()).toBe('u4'); // the owner takes from the same queue
    expect(farm.settle(farm.gen, 1)).toBe('u1');
    expect(a.ids).toEqual([0, 1, 5]);
    expect(farm.settle(farm.gen, 1)).toBeUndefined(); // answered twice: the second is dropped
    for (const id of [0, 2, 3, 5]) expect(farm.settle(farm.gen, id)).toBeDefined();
    expect(a.ids).toEqual([0, 1, 5, 6]); // the first helper to answer gets the next unit
    expect(b.ids).toEqual([2, 3]);
    expect(farm.finished).toBe(false);
    expect(farm.settle(farm.gen, 6)).toBeDefined();
    expect(farm.finished).toBe(true);
    expect(farm.take()).toBeUndefined();
  });

  it('gives a dead helper’s units back to the front of the queue', () => {
    const farm = new UnitFarm<string>(2);
    const a = new FakeHelper();
    const b = new FakeHelper();
    farm.add(a);
    farm.add(b);
    farm.start(units(6));
    farm.remove(a);
    expect(farm.helpers).toBe(1);
    expect(farm.take()).toBe('u0');
    expect(farm.take()).toBe('u1');
    expect(farm.settle(farm.gen, 0)).toBeUndefined(); // its late answer no longer counts
    expect(farm.settle(farm.gen, 2)).toBeDefined();
    expect(b.ids).toEqual([2, 3, 4]);
  });

  it('drops answers to an abandoned batch and sends nothing while held', () => {
    const farm = new UnitFarm<string>(1);
    const a = new FakeHelper();
    farm.start(units(3));
    farm.add(a); // a helper that joins late gets work at once
    expect(a.ids).toEqual([0]);
    const old = farm.gen;
    farm.abandon();
    expect(farm.finished).toBe(true);
    expect(farm.settle(old, 0)).toBeUndefined();
    farm.start(units(3));
    expect(a.sent.at(-1)).toEqual({ gen: old + 2, id: 0, unit: 'u0' });
    farm.hold(true);
    expect(farm.settle(farm.gen, 0)).toBeDefined();
    expect(a.sent).toHaveLength(2); // held: no refill
    farm.hold(false);
    expect(a.sent.at(-1)?.unit).toBe('u1');
  });
});

describe('workerCount', () => {
  const small = { nCells: 100, nTime: 9000 };
  it('uses one worker per core by default, the requested number otherwise, at most 8', () => {
    expect(workerCount(small, 2)).toBe(2);
    expect(workerCount(small, 64)).toBe(8);
    expect(workerCount({ ...small, workers: 1 }, 16)).toBe(1);
    expect(workerCount({ ...small, workers: 3 }, 2)).toBe(3);
    expect(workerCount({ ...small, workers: 0 }, 4)).toBe(1);
    expect(workerCount(small, Number.NaN)).toBe(1);
  });
  it('gives a recording too large to copy per core fewer helpers, or none', () => {
    const samples = (copies: number) => Math.floor(HELPERS_MEMORY_BYTES / (copies * REPLICA_BYTES_PER_SAMPLE));
    expect(workerCount({ nCells: 1, nTime: samples(3) }, 16)).toBe(4); // 3 helpers fit
    expect(workerCount({ nCells: 1000, nTime: 100_000 }, 16)).toBe(1); // 1.7 GB a copy: none
  });
});
