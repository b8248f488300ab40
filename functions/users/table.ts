import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { HttpError } from "../shared/http";
import type { PageKey } from "./pagination";
import type { NewUser, UserFields } from "./validation";

export interface User extends NewUser {
  /** ISO 8601, set once by `createUser`. */
  createdAt: string;
  /** ISO 8601, set by every write. */
  updatedAt: string;
}

export interface UserPage {
  items: User[];
  /** Absent on the last page. */
  nextKey?: PageKey;
}

// Created once per container so that warm invocations reuse its connections and credentials.
const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}));

const USER_EXISTS = "attribute_exists(userId)";

/** Read per call rather than at load, so that a missing setting fails requests (500, logged), not the init. */
function tableName(): string {
  const name = process.env.TABLE_NAME;
  if (!name) throw new Error("TABLE_NAME is not set: the function's environment must name the users table");
  return name;
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}

export function notFound(userId: string): HttpError {
  return new HttpError(404, `User ${userId} not found`);
}

/**
 * Strongly consistent: this read backs `GET <Location>` right after the create's 201, and an
 * eventually consistent read (DynamoDB's default) may not see a write yet and answer 404. It costs
 * twice the read capacity of one.
 */
export async function getUser(userId: string): Promise<User | undefined> {
  const result = await documentClient.send(
    new GetCommand({ TableName: tableName(), Key: { userId }, ConsistentRead: true }),
  );
  return result.Item as User | undefined;
}

/**
 * One page of a Scan: `Limit` bounds the items read, so a request never walks the whole table.
 * DynamoDB returns a key whenever the page is full, so a full last page is followed by an empty one.
 */
export async function listUsers(pageSize: number, startKey: PageKey | undefined): Promise<UserPage> {
  const result = await documentClient.send(
    new ScanCommand({ TableName: tableName(), Limit: pageSize, ExclusiveStartKey: startKey }),
  );
  const items = (result.Items ?? []) as User[];
  const lastKey = result.LastEvaluatedKey as PageKey | undefined;
  return lastKey ? { items, nextKey: { userId: lastKey.userId } } : { items };
}

/** Creates the user; 409 if the id is taken, and the existing user is left as it was. */
export async function createUser(newUser: NewUser, now = new Date()): Promise<User> {
  const user: User = { ...newUser, createdAt: now.toISOString(), updatedAt: now.toISOString() };
  try {
    await documentClient.send(
      new PutCommand({
        TableName: tableName(),
        Item: user,
        ConditionExpression: "attribute_not_exists(userId)",
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw new HttpError(409, `User ${newUser.userId} already exists`);
    throw error;
  }
  return user;
}

/** Replaces name and email of an existing user; 404 rather than an upsert if there is none. */
export async function updateUser(userId: string, fields: UserFields, now = new Date()): Promise<User> {
  try {
    const result = await documentClient.send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { userId },
        // `name` is a DynamoDB reserved word.
        UpdateExpression: "SET #name = :name, email = :email, updatedAt = :updatedAt",
        ConditionExpression: USER_EXISTS,
        ExpressionAttributeNames: { "#name": "name" },
        ExpressionAttributeValues: {
          ":name": fields.name,
          ":email": fields.email,
          ":updatedAt": now.toISOString(),
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    return result.Attributes as User;
  } catch (error) {
    if (isConditionFailure(error)) throw notFound(userId);
    throw error;
  }
}

/** Deletes an existing user; 404 if there is none, so that a client can tell a no-op from a delete. */
export async function deleteUser(userId: string): Promise<void> {
  try {
    await documentClient.send(
      new DeleteCommand({ TableName: tableName(), Key: { userId }, ConditionExpression: USER_EXISTS }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw notFound(userId);
    throw error;
  }
}
