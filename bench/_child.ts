/**
 * One step of a benchmark in a Deno process of its own (its peak memory its own, its code not
 * warmed by the parent's): the suites' builds and ingests.
 *
 * @module
 */

/**
 * Run a script with Deno and return what it printed.
 *
 * @param permissions `--allow-…` flags.
 * @param args The V8 flags, the script and its arguments.
 * @returns Its standard output; its standard error goes to the parent's.
 * @throws {Error} Naming the step's last arguments when it fails.
 */
export async function runStep(permissions: readonly string[], args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`Benchmark step ${args.slice(-4).join(" ")} failed`);
  return new TextDecoder().decode(out.stdout);
}
