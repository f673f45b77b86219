/**
 * `lsst-extendedness kafka-lag`: committed offsets and lag of a Kafka consumer group.
 *
 * @module
 */

import { kafkaLag } from "../mod.ts";
import { type Command, COMMON, KAFKA, required, topics } from "./_flags.ts";
import { kafkaConnection } from "./_kafka_connection.ts";
import { formatLag, print } from "./_output.ts";

/** The kafka-lag command: committed offset, end offset and lag per partition. */
export const kafkaLagCommand: Command = {
  options: { ...COMMON, ...KAFKA },
  positionals: 0,
  run: async (flags) => {
    const lag = await kafkaLag({
      ...kafkaConnection(flags),
      groupId: required(flags, "group-id", "kafka-lag needs --group-id"),
      ...(topics(flags).length === 0 ? {} : { topics: topics(flags) }),
    });
    print(flags, lag, () => formatLag(lag));
    return 0;
  },
};
