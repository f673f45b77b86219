/**
 * The order in which the message worker sends a backlog's messages on: one message of each
 * partition in turn, each partition's messages in offset order, across fetches.
 *
 * A topic spreads each DIAObject's alerts over its partitions. Sent one partition after another,
 * a backlog reaches the pipeline far from time order, and every late observation replays the
 * DIASources it reorders. Taken in turn, any stretch of messages holds the same stretch of time
 * of every partition (tracking sorts a batch), wherever the pipeline cuts its batches: slices
 * of 125 messages a partition still left ~460 replays in 20,000 mock alerts from 4 partitions
 * where batches cut a chunk, and one at a time none (measured; the replays cost a fifth of the
 * storing thread's time). kafkajs hands a fetch's partitions over one after another and fetches stop
 * at a byte limit per partition, so one fetch may bring 1,000 messages of one partition and none
 * of the others: the messages of partitions still queued are held back while a partition that
 * has more in Kafka (its last fetch stopped short of its end) has none queued, until its next
 * fetch arrives.
 *
 * @module
 */

import type { KafkaRecord } from "./_kafka_client.ts";

// A partition's messages not sent yet: those of `records` from `at` on.
interface Queue {
  records: KafkaRecord[];
  at: number;
}

/** Messages fetched and not yet sent on, by partition. */
export class FetchInterleave {
  #queues = new Map<string, Queue>();
  #held = 0;

  /** Messages queued. */
  get held(): number {
    return this.#held;
  }

  /**
   * Queue the messages of one fetched batch.
   *
   * @param batch Messages of one partition, in offset order, after those queued before.
   */
  add(batch: readonly KafkaRecord[]): void {
    if (batch.length === 0) return;
    const { topic, partition } = batch[0] as KafkaRecord;
    const key = `${topic}/${partition}`;
    let queue = this.#queues.get(key);
    if (queue === undefined) {
      queue = { records: [], at: 0 };
      this.#queues.set(key, queue);
    }
    if (queue.at > 0) {
      queue.records = queue.records.slice(queue.at);
      queue.at = 0;
    }
    for (const record of batch) queue.records.push(record);
    this.#held += batch.length;
  }

  /**
   * Chunks to send now, a message of every queued partition in turn. It stops where a partition
   * `behind` names has none queued: the rest waits for that partition's next fetch (or for a
   * call with no partition behind, to send everything).
   *
   * @param messages Most messages in a chunk.
   * @param bytes Bytes of values after which a chunk ends.
   * @param behind Partitions (`topic/partition`) with messages in Kafka past those fetched.
   * @returns The chunks, in the order to send them.
   */
  *chunks(messages: number, bytes: number, behind: ReadonlySet<string>): Generator<KafkaRecord[]> {
    const queues = [...this.#queues.values()];
    const dry = (queue: Queue) => queue.at >= queue.records.length;
    const waiting: Queue[] = [];
    for (const key of behind) {
      const queue = this.#queues.get(key);
      // Nothing of it fetched yet: nothing can go before it.
      if (queue === undefined) return;
      waiting.push(queue);
    }
    let chunk: KafkaRecord[] = [];
    let size = 0;
    for (;;) {
      // Taken further, the others would run ahead in time of its next fetch.
      if (waiting.some(dry)) break;
      let took = false;
      for (const queue of queues) {
        if (dry(queue)) continue;
        const record = queue.records[queue.at++] as KafkaRecord;
        chunk.push(record);
        size += record.value?.length ?? 0;
        took = true;
        if (chunk.length >= messages || size >= bytes) {
          this.#held -= chunk.length;
          yield chunk;
          chunk = [];
          size = 0;
        }
      }
      if (!took) break;
    }
    if (chunk.length > 0) {
      this.#held -= chunk.length;
      yield chunk;
    }
    // A partition's queue stays, emptied, so that it is waited for while it is behind.
    for (const queue of queues) {
      if (dry(queue)) {
        queue.records = [];
        queue.at = 0;
      }
    }
  }
}
