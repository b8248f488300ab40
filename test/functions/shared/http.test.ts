import * as assert from "node:assert/strict";
import {
  HttpError,
  json,
  MAX_BODY_BYTES,
  noContent,
  parseJsonObjectBody,
} from "../../../functions/shared/http";

function assertStatus(parse: () => unknown, statusCode: number, message: RegExp): void {
  assert.throws(parse, (error: unknown) => {
    assert.ok(error instanceof HttpError);
    assert.equal(error.statusCode, statusCode);
    assert.match(error.message, message);
    return true;
  });
}

/** A JSON object body of exactly `bytes` UTF-8 bytes. */
function bodyOfBytes(bytes: number): string {
  const skeleton = JSON.stringify({ pad: "" });
  return JSON.stringify({ pad: "x".repeat(bytes - skeleton.length) });
}

describe("http helpers", () => {
  describe("parseJsonObjectBody", () => {
    it("accepts a body of exactly 16 KiB", () => {
      const body = bodyOfBytes(MAX_BODY_BYTES);

      assert.equal(Buffer.byteLength(body), 16384);
      assert.ok(parseJsonObjectBody({ body, isBase64Encoded: false }));
    });

    it("rejects a body one byte over 16 KiB with 413", () => {
      const body = bodyOfBytes(MAX_BODY_BYTES + 1);

      assertStatus(() => parseJsonObjectBody({ body, isBase64Encoded: false }), 413, /at most 16384 bytes/);
    });

    it("measures multi-byte characters in bytes, not characters", () => {
      const body = JSON.stringify({ pad: "é".repeat(MAX_BODY_BYTES / 2) });

      assertStatus(() => parseJsonObjectBody({ body, isBase64Encoded: false }), 413, /16384 bytes/);
    });

    it("measures a base64 body after decoding it", () => {
      const decoded = bodyOfBytes(MAX_BODY_BYTES);
      const body = Buffer.from(decoded).toString("base64");

      assert.ok(body.length > MAX_BODY_BYTES);
      assert.deepEqual(parseJsonObjectBody({ body, isBase64Encoded: true }), JSON.parse(decoded));
    });

    it("rejects a base64 body that decodes to over 16 KiB with 413", () => {
      const body = Buffer.from(bodyOfBytes(MAX_BODY_BYTES + 1)).toString("base64");

      assertStatus(() => parseJsonObjectBody({ body, isBase64Encoded: true }), 413, /16384 bytes/);
    });

    it("rejects a missing body with 400", () => {
      assertStatus(() => parseJsonObjectBody({ body: null, isBase64Encoded: false }), 400, /is required/);
    });

    it("rejects malformed JSON with 400", () => {
      assertStatus(
        () => parseJsonObjectBody({ body: "{'a': 1}", isBase64Encoded: false }),
        400,
        /not valid JSON/,
      );
    });

    it("rejects JSON that is not an object with 400", () => {
      for (const body of ["[]", "null", '"text"', "42"]) {
        assertStatus(
          () => parseJsonObjectBody({ body, isBase64Encoded: false }),
          400,
          /must be a JSON object/,
        );
      }
    });
  });

  describe("responses", () => {
    it("serializes JSON with its Content-Type and extra headers", () => {
      assert.deepEqual(json(201, { a: 1 }, { Location: "/users/a" }), {
        statusCode: 201,
        headers: { "Content-Type": "application/json", Location: "/users/a" },
        body: '{"a":1}',
      });
    });

    it("answers 204 with an empty body", () => {
      assert.deepEqual(noContent(), { statusCode: 204, headers: {}, body: "" });
    });
  });
});
