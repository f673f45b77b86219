/**
 * Entry point of a cutout writer thread (see `CutoutProcessor`): checks and writes the cutouts
 * it is sent while the storing thread goes on, several requests at once within its limit of
 * files in flight.
 *
 * @module
 */

import { handleWriterRequest, type WriterRequest, WriterState } from "./_cutout_files.ts";

/** The first message a writer takes: who it is and how many files it may have in flight. */
export interface WriterSetup {
  /** Unique to the writer within its processor. */
  prefix: string;
  /** Most files in flight at once. */
  limit: number;
}

// The worker's global scope, typed here (the package may not change its users' globals).
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<WriterSetup | WriterRequest>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};
let state: WriterState | null = null;

scope.onmessage = (event) => {
  const message = event.data;
  if (!("type" in message)) {
    state = new WriterState(message.prefix, message.limit);
    scope.postMessage({ type: "ready" });
    return;
  }
  if (state === null) throw new Error("The cutout writer was sent a request before its setup");
  // The request's buffer goes back with the reply: the caller packs the next request into it,
  // rather than this thread holding each one until its garbage collector runs.
  handleWriterRequest(message, state).then((reply) =>
    scope.postMessage(reply, reply.type === "written" ? [reply.data.buffer as ArrayBuffer] : [])
  );
};
