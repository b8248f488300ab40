import * as assert from "node:assert/strict";
import {
  errorResponse,
  HttpError,
  json,
  MAX_BODY_BYTES,
  MAX_MESSAGE_CHARACTERS,
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

    it("rejects a body that is not a string with 400 naming the body", () => {
      for (const body of [42, {}, ["{}"], false]) {
        const event = { body, isBase64Encoded: false } as unknown as {
          body: string;
          isBase64Encoded: boolean;
        };

        assertStatus(() => parseJsonObjectBody(event), 400, /^Request body must be a string .*, not (a|an) /);
      }
    });

    it("rejects an isBase64Encoded that is not true or false with 400 naming it", () => {
      const event = { body: "{}", isBase64Encoded: "true" } as unknown as {
        body: string;
        isBase64Encoded: boolean;
      };

      assertStatus(
        () => parseJsonObjectBody(event),
        400,
        /^isBase64Encoded must be true or false, not a string$/,
      );
    });

    it("rejects base64 with characters outside the alphabet, padding missing or base64url characters", () => {
      const encoded = Buffer.from('{"a":"b?"}').toString("base64");
      assert.equal(encoded, "eyJhIjoiYj8ifQ==");
      for (const body of [
        "eyJhIjo*iYj8ifQ==",
        "eyJhIjoi Yj8ifQ==",
        "eyJhIjoiYj8ifQ",
        "eyJhIjoiYj8ifQ==\n",
        "eyJhIjoiYj_ifQ==",
      ]) {
        assertStatus(() => parseJsonObjectBody({ body, isBase64Encoded: true }), 400, /not valid base64/);
      }
    });

    it("decodes canonical base64", () => {
      assert.deepEqual(parseJsonObjectBody({ body: "eyJhIjoiYj8ifQ==", isBase64Encoded: true }), { a: "b?" });
    });

    it("rejects base64 that decodes to bytes that are not UTF-8 with 400", () => {
      const body = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d]).toString("base64");

      assertStatus(
        () => parseJsonObjectBody({ body, isBase64Encoded: true }),
        400,
        /^Request body is not valid UTF-8$/,
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

    it("cuts an error message over 1024 characters short", () => {
      const message = (jsonBody: string) => (JSON.parse(jsonBody) as { message: string }).message;

      const long = message(errorResponse(400, "x".repeat(5000)).body);
      const exact = message(errorResponse(400, "x".repeat(MAX_MESSAGE_CHARACTERS)).body);

      assert.equal(long.length, MAX_MESSAGE_CHARACTERS);
      assert.ok(long.endsWith("…"));
      assert.equal(exact, "x".repeat(1024));
    });

    it("answers 204 with an empty body", () => {
      assert.deepEqual(noContent(), { statusCode: 204, headers: {}, body: "" });
    });
  });
});
