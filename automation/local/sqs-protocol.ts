/**
 * The wire-level pieces of the local SQS (the JSON protocol a client's SDK speaks): message
 * attribute types, the digests SQS returns for a body and for attributes, how a receive names the
 * attributes it wants, and SQS's error shape.
 */
import { createHash } from "node:crypto";

/** A message's attributes as the SQS API carries them (binary values base64-encoded). */
export type MessageAttributes = Record<
  string,
  { DataType: string; StringValue?: string; BinaryValue?: string }
>;

export const md5 = (text: string) => createHash("md5").update(text).digest("hex");

/**
 * SQS's `MD5OfMessageAttributes`: over the attributes in name order, each as its length-prefixed
 * (4 bytes, big-endian) name and data type, a transport byte (1 string or number, 2 binary) and
 * its length-prefixed value.
 */
export function md5OfMessageAttributes(attributes: MessageAttributes): string | undefined {
  const names = Object.keys(attributes).sort();
  if (names.length === 0) return undefined;
  const hash = createHash("md5");
  const field = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length).update(bytes);
  };
  for (const name of names) {
    const { DataType, StringValue, BinaryValue } = attributes[name];
    field(Buffer.from(name, "utf8"));
    field(Buffer.from(DataType, "utf8"));
    const binary = BinaryValue !== undefined;
    hash.update(Buffer.from([binary ? 2 : 1]));
    field(binary ? Buffer.from(BinaryValue, "base64") : Buffer.from(StringValue ?? "", "utf8"));
  }
  return hash.digest("hex");
}

/** Whether `name` is asked for by a receive's name list (`All`, `.*`, a name, or a `prefix.*`). */
export const asked = (names: unknown, name: string): boolean =>
  Array.isArray(names) &&
  names.some(
    (wanted) =>
      wanted === "All" ||
      wanted === ".*" ||
      wanted === name ||
      (typeof wanted === "string" && wanted.endsWith(".*") && name.startsWith(wanted.slice(0, -1))),
  );

/** An SQS error as the JSON protocol returns it. */
export class SqsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}
