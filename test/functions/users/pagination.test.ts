import * as assert from "node:assert/strict";
import { HttpError } from "../../../functions/shared/http";
import { decodeNextToken, encodeNextToken, parsePageSize } from "../../../functions/users/pagination";

function assertBadRequest(parse: () => unknown): void {
  assert.throws(parse, (error: unknown) => error instanceof HttpError && error.statusCode === 400);
}

describe("users pagination", () => {
  it("defaults the page size to 20", () => {
    assert.equal(parsePageSize(undefined), 20);
  });

  it("accepts page sizes from 1 to 100", () => {
    assert.deepEqual(["1", "100", "007"].map(parsePageSize), [1, 100, 7]);
  });

  it("rejects page sizes that are not plain integers from 1 to 100", () => {
    for (const limit of ["0", "101", "1000", "-5", "+5", " 5", "5.0", "0x10", "Infinity", ""]) {
      assertBadRequest(() => parsePageSize(limit));
    }
  });

  it("round-trips a key through a URL-safe token", () => {
    const token = encodeNextToken({ userId: "user-042" });

    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeNextToken(token), { userId: "user-042" });
  });

  it("treats an absent token as the first page", () => {
    assert.equal(decodeNextToken(undefined), undefined);
  });

  it("rejects tokens that are not base64url JSON of exactly {userId}", () => {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const tokens = [
      "",
      "a+b/c=",
      encode("alice"),
      encode(null),
      encode({}),
      encode({ userId: "" }),
      encode({ userId: { S: "alice" } }),
      encode({ userId: "alice", name: "x" }),
      "A".repeat(300),
    ];
    for (const token of tokens) assertBadRequest(() => decodeNextToken(token));
  });
});
