/**
 * How to reach a Kafka cluster, from the flags ingest --source kafka and kafka-lag share.
 *
 * @module
 */

import { type KafkaSasl, type KafkaTls, UsageError } from "../mod.ts";
import { type Flags, required, text } from "./_flags.ts";

/**
 * The brokers, SASL credentials and TLS settings. Credentials come from flags or the
 * environment; they go to the client and nowhere else.
 *
 * @param flags The parsed flags.
 * @returns The connection settings.
 */
export function kafkaConnection(
  flags: Flags,
): { bootstrapServers: string; sasl?: KafkaSasl; tls?: KafkaTls } {
  const bootstrapServers = required(
    flags,
    "bootstrap-servers",
    "Kafka needs --bootstrap-servers host:port",
  );
  const mechanism = text(flags, "sasl-mechanism");
  const username = text(flags, "username") ?? Deno.env.get("LSST_KAFKA_USERNAME");
  const password = text(flags, "password") ?? Deno.env.get("LSST_KAFKA_PASSWORD");
  let sasl: KafkaSasl | undefined;
  if (mechanism !== undefined) {
    if (mechanism !== "plain" && mechanism !== "scram-sha-256" && mechanism !== "scram-sha-512") {
      throw new UsageError(
        `Unknown --sasl-mechanism "${mechanism}": expected plain, scram-sha-256 or scram-sha-512`,
      );
    }
    if (!username || !password) {
      throw new UsageError(
        "SASL needs a user name and a password: --username/--password or LSST_KAFKA_USERNAME/LSST_KAFKA_PASSWORD",
      );
    }
    sasl = { mechanism, username, password };
  } else if (username || password) {
    throw new UsageError("A user name or password was given without --sasl-mechanism");
  }
  const caFile = text(flags, "ca-file");
  const tls: KafkaTls | undefined = caFile !== undefined ? { caFile } : flags.tls ? {} : undefined;
  return {
    bootstrapServers,
    ...(sasl === undefined ? {} : { sasl }),
    ...(tls === undefined ? {} : { tls }),
  };
}
