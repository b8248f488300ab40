import * as assert from "node:assert/strict";
import { HttpError } from "../../../functions/shared/http";
import { parseNewUser, parseUserFields, parseUserIdParameter } from "../../../functions/users/validation";

const valid = { userId: "alice_01-x", name: "Alice", email: "alice@example.com" };

/** Asserts a 400 whose message matches `pattern`. */
function assertRejected(parse: () => unknown, pattern: RegExp): void {
  assert.throws(parse, (error: unknown) => {
    assert.ok(error instanceof HttpError);
    assert.equal(error.statusCode, 400);
    assert.match(error.message, pattern);
    return true;
  });
}

describe("users validation", () => {
  describe("parseNewUser", () => {
    it("accepts a valid user and returns only its fields", () => {
      assert.deepEqual(parseNewUser({ ...valid }), valid);
    });

    it("accepts userIds of 1 and 64 characters", () => {
      assert.equal(parseNewUser({ ...valid, userId: "a" }).userId, "a");
      assert.equal(parseNewUser({ ...valid, userId: "a".repeat(64) }).userId, "a".repeat(64));
    });

    it("rejects userIds that are empty, too long, not strings or hold other characters", () => {
      for (const userId of ["", "a".repeat(65), 42, "a b", "a/b", "é", null]) {
        assertRejected(() => parseNewUser({ ...valid, userId }), /^userId must be 1 to 64 characters/);
      }
    });

    it("rejects names that are blank, not strings or over 200 characters", () => {
      for (const name of ["", "   ", 7, ["Alice"], "x".repeat(201)]) {
        assertRejected(
          () => parseNewUser({ ...valid, name }),
          /^name must be a non-blank string of at most 200/,
        );
      }
    });

    it("rejects names of only invisible characters", () => {
      const invisible = [
        "\u200b", // zero width space
        "\ufeff\u200d", // byte order mark, zero width joiner
        "\u3164\u115f", // Hangul fillers
        "\u2800", // blank Braille pattern
        "\u00ad", // soft hyphen
        "\u0301\u0308", // combining marks with nothing to combine with
        "\u202e\u2066", // bidi controls
        "\u3000\u00a0\u2028", // ideographic and no-break spaces, line separator
        "\ue000", // private use
      ];
      for (const name of invisible) {
        assertRejected(
          () => parseNewUser({ ...valid, name }),
          /^name must be a non-blank string of at most 200 characters, with at least one visible character/,
        );
      }
    });

    it("rejects names holding a control character or a lone surrogate", () => {
      for (const name of [
        "Alice\u0000",
        "Al\nice",
        "\u001b[31mAlice",
        "Alice\u007f",
        "Alice\ud800",
        "\udfffAlice",
      ]) {
        assertRejected(() => parseNewUser({ ...valid, name }), /^name must be .* no control characters$/);
      }
    });

    it("accepts names whose invisible characters join visible ones", () => {
      for (const name of ["👨\u200d👩\u200d👧", "Zoe\u0308", "क्\u200dष", "Anne\u00a0Marie", "李 小龍"]) {
        assert.equal(parseNewUser({ ...valid, name }).name, name);
      }
    });

    it("counts name length in characters, not UTF-16 code units", () => {
      assert.equal(parseNewUser({ ...valid, name: "😀".repeat(200) }).name.length, 400);
    });

    it("rejects implausible emails and emails over 254 characters", () => {
      const tooLong = `a@${"b".repeat(250)}.com`;
      for (const email of [
        "alice",
        "alice@",
        "@example.com",
        "alice@example",
        "a b@example.com",
        "a@b@c.com",
        "al\u200bice@example.com",
        "alice\ud800@example.com",
        "alice@exa\u00admple.com",
        tooLong,
      ]) {
        assertRejected(() => parseNewUser({ ...valid, email }), /^email must be an email address/);
      }
    });

    it("names every missing field", () => {
      assertRejected(() => parseNewUser({}), /^userId is required; name is required; email is required$/);
    });

    it("rejects unknown fields by name", () => {
      assertRejected(() => parseNewUser({ ...valid, role: "admin" }), /^"role" is not an allowed field/);
    });

    it("names the first five unknown fields and counts the others", () => {
      const unknown = Object.fromEntries(Array.from({ length: 3000 }, (_, index) => [`f${index}`, index]));

      assert.throws(
        () => parseNewUser({ ...valid, ...unknown }),
        (error: unknown) => {
          assert.ok(error instanceof HttpError);
          const listed = error.message.split("; ");
          assert.deepEqual(
            listed.map((problem) => problem.split(" ")[0]),
            ['"f0"', '"f1"', '"f2"', '"f3"', '"f4"', "2995"],
          );
          assert.equal(listed[5], "2995 more fields are not allowed");
          return true;
        },
      );
    });
  });

  describe("parseUserFields", () => {
    it("accepts name and email and returns only them", () => {
      assert.deepEqual(parseUserFields({ name: "Alice", email: "alice@example.com" }, "alice"), {
        name: "Alice",
        email: "alice@example.com",
      });
    });

    it("accepts a userId equal to the path's", () => {
      assert.doesNotThrow(() => parseUserFields({ ...valid }, valid.userId));
    });

    it("rejects a userId that differs from the path's", () => {
      assertRejected(
        () => parseUserFields({ ...valid }, "bob"),
        /^userId in the body must equal the userId in the path/,
      );
    });

    it("requires both name and email", () => {
      assertRejected(() => parseUserFields({ email: "alice@example.com" }, "alice"), /^name is required$/);
    });
  });

  describe("parseUserIdParameter", () => {
    it("returns a valid path userId", () => {
      assert.equal(parseUserIdParameter({ userId: "alice" }), "alice");
    });

    it("rejects a missing or invalid path userId", () => {
      for (const pathParameters of [null, {}, { userId: "a%20b" }]) {
        assertRejected(() => parseUserIdParameter(pathParameters), /^Path parameter userId must be/);
      }
    });
  });
});
