import assert from "node:assert/strict";
import {
  ioPressure,
  machineProbe,
  SETTLE_MAX_MS,
  settleDisk,
  type SettleProbe,
} from "./_settle.ts";

// The machine is replaced by a scripted one: a real disk cannot be made busy and quiet on cue.
function scripted(pressures: (number | null)[]): SettleProbe & { calls: string[] } {
  let clock = 0;
  let read = 0;
  const calls: string[] = [];
  return {
    calls,
    readPressure() {
      const value = pressures[Math.min(read++, pressures.length - 1)];
      calls.push("read");
      return Promise.resolve(
        value === null || value === undefined
          ? null
          : `some avg10=${value.toFixed(2)} avg60=0.00 avg300=0.00 total=1\n` +
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n",
      );
    },
    sync() {
      calls.push("sync");
      clock += 500;
      return Promise.resolve(true);
    },
    sleep(ms) {
      calls.push("sleep");
      clock += ms;
      return Promise.resolve();
    },
    now: () => clock,
  };
}

Deno.test("settle: the 'some' 10-second average is read, not the 'full' line's or a longer one", () => {
  assert.equal(
    ioPressure(
      "some avg10=17.42 avg60=30.00 avg300=2.77 total=5338027582\n" +
        "full avg10=9.10 avg60=0.57 avg300=1.25 total=3667983872\n",
    ),
    17.42,
  );
  assert.equal(ioPressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"), 0);
  assert.equal(ioPressure("full avg10=3.00 avg60=0.00 avg300=0.00 total=0\n"), null);
  assert.equal(ioPressure(""), null);
});

Deno.test("settle: syncs, then waits while the disk is busy and stops once it is quiet", async () => {
  const probe = scripted([40, 25, 12, 4, 2.5, 80]);
  const settled = await settleDisk(probe);
  assert.deepEqual(probe.calls, [
    "read",
    "sync",
    "read",
    "sleep",
    "read",
    "sleep",
    "read",
    "sleep",
    "read",
  ]);
  assert.deepEqual(settled, { waited_s: 3.5, io_pressure_before: 40, io_pressure_after: 2.5 });
});

Deno.test("settle: a quiet disk costs the sync alone", async () => {
  const probe = scripted([0.2]);
  assert.deepEqual(await settleDisk(probe), {
    waited_s: 0.5,
    io_pressure_before: 0.2,
    io_pressure_after: 0.2,
  });
  assert.deepEqual(probe.calls, ["read", "sync", "read"]);
});

Deno.test("settle: a disk that stays busy is waited for no longer than the limit", async () => {
  const probe = scripted([60]);
  const settled = await settleDisk(probe);
  assert.equal(settled.io_pressure_after, 60);
  assert.ok(
    settled.waited_s * 1000 >= SETTLE_MAX_MS && settled.waited_s * 1000 < SETTLE_MAX_MS + 1500,
  );
});

Deno.test("settle: without a pressure file (another kernel), the sync alone", async () => {
  const probe = scripted([null]);
  assert.deepEqual(await settleDisk(probe), {
    waited_s: 0.5,
    io_pressure_before: null,
    io_pressure_after: null,
  });
  assert.deepEqual(probe.calls, ["read", "sync", "read"]);
});

Deno.test("settle: this machine's probe reads a real pressure file and runs a real sync", async () => {
  // Its parts, not a whole wait: that lasts as long as the disk stays busy, up to 90 s.
  const text = await machineProbe.readPressure();
  const hasPressure = await Deno.stat("/proc/pressure/io").then(() => true, () => false);
  assert.equal(text !== null, hasPressure);
  if (text !== null) assert.ok((ioPressure(text) ?? -1) >= 0, text);
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
