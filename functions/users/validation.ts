import { HttpError } from "../shared/http";

export interface UserFields {
  name: string;
  email: string;
}

export interface NewUser extends UserFields {
  userId: string;
}

// Both bodies take the same fields: a PUT may echo the userId it read.
const ALLOWED_FIELDS: readonly string[] = ["userId", "name", "email"];
const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_NAME_CHARACTERS = 200;
// RFC 5321 caps a forward path at 254 octets and a local part at 64.
const MAX_EMAIL_LENGTH = 254;
// Deliberately loose: one @, no whitespace or control characters, a dotted domain. Only a
// confirmation mail proves an address; rejecting real ones is worse than accepting odd ones.
// \p{C} also keeps out invisible format characters and lone surrogates (`JSON.parse` makes one from
// "\ud800"): half a character, with no UTF-8 encoding.
const EMAIL = /^[^\s@\p{C}]{1,64}@[^\s@.\p{C}]+(?:\.[^\s@.\p{C}]+)+$/u;
// A name must show something: a character that is not white space, a control, format, private-use,
// unassigned or surrogate code point, a combining mark alone, an ignorable (Hangul fillers, zero
// widths, soft hyphen, variation selectors) or the blank Braille pattern.
const VISIBLE = /[^\p{White_Space}\p{C}\p{M}\p{Default_Ignorable_Code_Point}\u2800]/u;
// Controls (newlines, NUL, escapes) have no place in a name that ends up in pages and logs; a lone
// surrogate is half a character, with no UTF-8 encoding. Format characters stay allowed inside a name: emoji
// sequences and some scripts need the zero-width joiners.
const FORBIDDEN_IN_NAME = /[\p{Cc}\p{Cs}]/u;
/** Unknown fields listed by name in a 400; the rest are counted, so that the answer stays small. */
const MAX_LISTED_FIELDS = 5;

const USER_ID_RULE = "must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -";
const NAME_RULE =
  `must be a non-blank string of at most ${MAX_NAME_CHARACTERS} characters, with at least one ` +
  "visible character and no control characters";
const EMAIL_RULE = `must be an email address (name@domain) of at most ${MAX_EMAIL_LENGTH} characters`;

export function isUserId(value: unknown): value is string {
  return typeof value === "string" && USER_ID.test(value);
}

/** The `{userId}` path parameter; 400 if API Gateway passed none or it cannot be a user id. */
export function parseUserIdParameter(pathParameters: { [name: string]: string | undefined } | null): string {
  const userId = pathParameters?.userId;
  if (!isUserId(userId)) throw new HttpError(400, `Path parameter userId ${USER_ID_RULE}`);
  return userId;
}

/** `POST /users` body: exactly `{userId, name, email}`. */
export function parseNewUser(body: { [field: string]: unknown }): NewUser {
  const problems = isUserId(body.userId) ? [] : [describe("userId", body.userId, USER_ID_RULE)];
  problems.push(...fieldProblems(body), ...unknownFields(body));
  if (problems.length > 0) throw new HttpError(400, problems.join("; "));
  // No problems means every field passed its type guard.
  return { userId: body.userId as string, name: body.name as string, email: body.email as string };
}

/**
 * `PUT /users/{userId}` body: `{name, email}`. A `userId` is tolerated so that a client can send back
 * what it read, but only if it names the same user: a PUT never renames.
 */
export function parseUserFields(body: { [field: string]: unknown }, pathUserId: string): UserFields {
  const problems =
    "userId" in body && body.userId !== pathUserId
      ? [`userId in the body must equal the userId in the path (${pathUserId})`]
      : [];
  problems.push(...fieldProblems(body), ...unknownFields(body));
  if (problems.length > 0) throw new HttpError(400, problems.join("; "));
  return { name: body.name as string, email: body.email as string };
}

function fieldProblems(body: { [field: string]: unknown }): string[] {
  const problems: string[] = [];
  if (!isName(body.name)) problems.push(describe("name", body.name, NAME_RULE));
  if (!isEmail(body.email)) problems.push(describe("email", body.email, EMAIL_RULE));
  return problems;
}

function unknownFields(body: { [field: string]: unknown }): string[] {
  const unknown = Object.keys(body).filter((field) => !ALLOWED_FIELDS.includes(field));
  const listed = unknown
    .slice(0, MAX_LISTED_FIELDS)
    // Field names come from the caller: quoted and cut short so that the message stays readable.
    .map(
      (field) =>
        `${JSON.stringify(field.slice(0, 64))} is not an allowed field (allowed: ${ALLOWED_FIELDS.join(", ")})`,
    );
  const more = unknown.length - listed.length;
  return more > 0 ? [...listed, `${more} more fields are not allowed`] : listed;
}

function describe(field: string, value: unknown, rule: string): string {
  return value === undefined ? `${field} is required` : `${field} ${rule}`;
}

function isName(value: unknown): value is string {
  // Counted in code points, so that a name in a non-Latin script is not cut short by surrogate pairs.
  return (
    typeof value === "string" &&
    [...value].length <= MAX_NAME_CHARACTERS &&
    VISIBLE.test(value) &&
    !FORBIDDEN_IN_NAME.test(value)
  );
}

function isEmail(value: unknown): value is string {
  return typeof value === "string" && value.length <= MAX_EMAIL_LENGTH && EMAIL.test(value);
}
