/**
 * Cutouts survive a power loss as the rows that point at them do: the system calls of a real
 * ingest, traced with strace, show each file flushed before its rename and its folders synced
 * after the renames and before the SQLite commit of its batch.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { queryDatabase, REPO_ROOT, testWith, withTempDir } from "./_support.ts";

const STRACE = "/usr/bin/strace";

// strace can be installed and still not allowed to trace (a container without ptrace).
function straceWorks(): boolean {
  try {
    return new Deno.Command(STRACE, {
      args: ["-f", "-o", "/dev/null", "true"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

/** One completed system call, in the order the calls returned. */
type Call =
  | { kind: "sync"; path: string }
  | { kind: "rename"; from: string; to: string };

/**
 * The successful calls of an `strace -f -y` log. A call interrupted by another thread's is
 * logged as `<unfinished ...>` and completed by a `<... resumed>` line of the same thread: it
 * counts where it returned.
 */
function parseTrace(text: string): Call[] {
  const calls: Call[] = [];
  const pending = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^(\d+)\s+(.*)$/.exec(line);
    if (match === null) continue;
    const [, pid = "", rest = ""] = match;
    let call: string;
    if (rest.endsWith("<unfinished ...>")) {
      pending.set(pid, rest.slice(0, -"<unfinished ...>".length).trimEnd());
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(rest);
    if (resumed !== null) {
      call = (pending.get(pid) ?? "") + (resumed[1] ?? "");
      pending.delete(pid);
    } else {
      call = rest;
    }
    if (!/\)\s+= 0$/.test(call)) continue;
    const sync = /^f(?:data)?sync\(\d+<(.*)>\)/.exec(call);
    if (sync !== null) {
      calls.push({ kind: "sync", path: sync[1] ?? "" });
      continue;
    }
    if (/^rename(at2?)?\(/.test(call)) {
      const [from, to] = [...call.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? "");
      if (from !== undefined && to !== undefined) calls.push({ kind: "rename", from, to });
    }
  }
  return calls;
}

testWith(straceWorks(), `strace (${STRACE}) allowed to trace`, {
  name:
    "ingest flushes each cutout before its rename and syncs its folders before the batch commits",
  async fn() {
    await withTempDir("lsst-durable-", async (dir) => {
      const db = join(dir, "alerts.db");
      const cutouts = join(dir, "cutouts");
      const log = join(dir, "trace.log");
      const traced = await new Deno.Command(STRACE, {
        args: [
          "-f",
          "-y",
          "-e",
          "trace=fsync,fdatasync,rename,renameat,renameat2",
          "-o",
          log,
          Deno.execPath(),
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          "--allow-net",
          join(REPO_ROOT, "cli.ts"),
          "ingest",
          "--count",
          "40",
          "--batch-size",
          "10",
          "--db",
          db,
          "--cutouts-dir",
          cutouts,
          "--quiet",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(traced.code, 0, new TextDecoder().decode(traced.stderr));

      const calls = parseTrace(await Deno.readTextFile(log));
      const renames = calls.flatMap((c, at) =>
        c.kind === "rename" && c.to.startsWith(cutouts + "/") ? [{ ...c, at }] : []
      );
      const stored = queryDatabase(
        db,
        "SELECT cutout_science, cutout_template, cutout_difference FROM alerts",
      ).flatMap((r) => Object.values(r).filter((v) => v !== null).map(String));
      assert.equal(stored.length, 120, "40 alerts of three cutouts each");
      assert.deepEqual(
        new Set(renames.map((r) => r.to)),
        new Set(stored),
        "every stored path was renamed into place",
      );

      const synced = (path: string, from: number, to: number) =>
        calls.slice(from, to).some((c) => c.kind === "sync" && c.path === path);
      for (const { from, to, at } of renames) {
        assert.ok(synced(from, 0, at), `"${from}" is flushed before it becomes "${to}"`);
        // SQLite commits a WAL transaction with a sync of the -wal file (synchronous = FULL).
        const commit = calls.findIndex((c, i) =>
          i > at && c.kind === "sync" && c.path === `${db}-wal`
        );
        assert.ok(commit > at, `a commit follows the rename to "${to}"`);
        assert.ok(
          synced(dirname(to), at, commit),
          `the folder of "${to}" is synced between its rename and the commit`,
        );
        assert.ok(
          synced(dirname(dirname(to)), at, commit),
          `the folder that holds the new folder of "${to}" is synced before the commit`,
        );
      }
    });
  },
});
