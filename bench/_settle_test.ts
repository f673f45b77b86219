import assert from "node:assert/strict";
import {
  ioPressure,
  machineProbe,
  SETTLE_MAX_MS,
  SETTLE_STEP_MS,
  settleDisk,
  type SettleProbe,
} from "./_settle.ts";

// The machine is replaced by a scripted one: a real disk cannot be made busy and quiet on cue.
// `stalls[i]` is the share (%) of the i-th second after the sync that some task stalled on I/O.
function scripted(
  avg10: number | null,
  stalls: number[],
): SettleProbe & { calls: string[] } {
  let clock = 0;
  let total = 5_000_000;
  let second = 0;
  const calls: string[] = [];
  return {
    calls,
    readPressure() {
      calls.push("read");
      return Promise.resolve(
        avg10 === null ? null : `some avg10=${avg10.toFixed(2)} avg60=0.00 avg300=0.00 ` +
          `total=${total}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1\n`,
      );
    },
    sync() {
      calls.push("sync");
      clock += 500;
      return Promise.resolve(true);
    },
    sleep(ms) {
      calls.push("sleep");
      const share = stalls[Math.min(second++, stalls.length - 1)] ?? 0;
      total += Math.round(ms * 1000 * share / 100);
      clock += ms;
      return Promise.resolve();
    },
    now: () => clock,
  };
}

Deno.test("settle: the 'some' line's 10-second average and total are read, not the 'full' line's", () => {
  assert.deepEqual(
    ioPressure(
      "some avg10=17.42 avg60=30.00 avg300=2.77 total=5338027582\n" +
        "full avg10=9.10 avg60=0.57 avg300=1.25 total=3667983872\n",
    ),
    { avg10: 17.42, totalUs: 5338027582 },
  );
  assert.deepEqual(ioPressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"), {
    avg10: 0,
    totalUs: 0,
  });
  assert.equal(ioPressure("full avg10=3.00 avg60=0.00 avg300=0.00 total=7\n"), null);
  assert.equal(ioPressure(""), null);
});

Deno.test("settle: syncs, then waits while the disk stalls and stops at the first quiet second", async () => {
  // The kernel's 10-second average would still read high after the disk went quiet: the wait
  // goes by the counter, second by second.
  const probe = scripted(40, [35, 12, 4, 2.5, 80]);
  const settled = await settleDisk(probe);
  assert.deepEqual(probe.calls, [
    "read",
    "sync",
    "read",
    ...Array(4).fill(["sleep", "read"]).flat(),
  ]);
  assert.deepEqual(settled, { waited_s: 4.5, io_pressure_before: 40, io_stalled_last_s: 2.5 });
});

Deno.test("settle: a quiet disk costs the sync and one second", async () => {
  const probe = scripted(0.2, [0.4]);
  assert.deepEqual(await settleDisk(probe), {
    waited_s: (500 + SETTLE_STEP_MS) / 1000,
    io_pressure_before: 0.2,
    io_stalled_last_s: 0.4,
  });
  assert.deepEqual(probe.calls, ["read", "sync", "read", "sleep", "read"]);
});

Deno.test("settle: a disk that stays busy is waited for no longer than the limit", async () => {
  const probe = scripted(60, [60]);
  const settled = await settleDisk(probe);
  assert.equal(settled.io_stalled_last_s, 60);
  assert.ok(settled.waited_s * 1000 >= SETTLE_MAX_MS, String(settled.waited_s));
  assert.ok(settled.waited_s * 1000 < SETTLE_MAX_MS + 2 * SETTLE_STEP_MS, String(settled.waited_s));
});

Deno.test("settle: without a pressure file (another kernel), the sync alone", async () => {
  const probe = scripted(null, [50]);
  assert.deepEqual(await settleDisk(probe), {
    waited_s: 0.5,
    io_pressure_before: null,
    io_stalled_last_s: null,
  });
  assert.deepEqual(probe.calls, ["read", "sync", "read"]);
});

Deno.test("settle: this machine's probe reads a real pressure file and runs a real sync", async () => {
  // Its parts, not a whole wait: that lasts as long as the disk stays busy, up to 90 s.
  const text = await machineProbe.readPressure();
  const hasPressure = await Deno.stat("/proc/pressure/io").then(() => true, () => false);
  assert.equal(text !== null, hasPressure);
  if (text !== null) assert.ok((ioPressure(text)?.totalUs ?? -1) >= 0, text);
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(path, "dirty");
    const before = machineProbe.now();
    assert.equal(await machineProbe.sync(), true);
    await machineProbe.sleep(20);
    assert.ok(machineProbe.now() - before >= 20);
  } finally {
    await Deno.remove(path);
  }
});
