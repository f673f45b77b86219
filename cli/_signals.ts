// deno-lint-ignore-file no-console
/**
 * SIGINT and SIGTERM during a long run: the first stops it cleanly, the second exits at once.
 *
 * @module
 */

/** Options of {@linkcode abortOnSignals}. */
export interface AbortOnSignalsOptions {
  /** No message when a signal arrives. Default `false`. */
  quiet?: boolean;
  /** What the run keeps when it stops, for the message ("read", "decoded"). */
  keeping: string;
}

/**
 * Abort a run on SIGINT or SIGTERM, so it stores what it has and commits nothing unstored; a
 * second signal exits with code 130 for a user who will not wait.
 *
 * @param controller Aborted by the first signal.
 * @param options The message.
 * @returns Removes the listeners when disposed.
 */
export function abortOnSignals(
  controller: AbortController,
  options: AbortOnSignalsOptions,
): Disposable {
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = () => {
      if (controller.signal.aborted) Deno.exit(130);
      if (!options.quiet) {
        console.error(`\n${signal}: storing what was ${options.keeping}, then stopping`);
      }
      controller.abort(signal);
    };
    try {
      Deno.addSignalListener(signal, handler);
    } catch {
      // SIGTERM cannot be listened to on every platform.
    }
    return [signal, handler] as const;
  });
  return {
    [Symbol.dispose]() {
      for (const [signal, handler] of handlers) {
        try {
          Deno.removeSignalListener(signal, handler);
        } catch {
          // Never added.
        }
      }
    },
  };
}
