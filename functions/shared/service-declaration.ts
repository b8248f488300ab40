/**
 * What a service is, as data: its tables, queues, secrets and functions, each function with the
 * trigger that invokes it and the access it needs. A declaration file (`functions/<service>/service.ts`)
 * exports one of these; `Platform` (components/platform.ts) validates it and builds everything it
 * names. No Pulumi import here: handler folders stay free of deployment code.
 */

/** DynamoDB attribute types. */
export type KeyType = "S" | "N" | "B";

/** A handler's access to one of the service's tables: exact DynamoDB actions per level. */
export type TableAccess = "read" | "write" | "readWrite";

/** Stage settings a service (or one function) may override. */
export interface FunctionOverrides {
  /** @default the stage's `platform:lambdaMemoryMb` */
  memoryMb?: number;
  /** @default the stage's `platform:lambdaTimeoutSeconds` */
  timeoutSeconds?: number;
  /** @default the stage's `platform:provisionedConcurrency` */
  provisionedConcurrency?: number;
}

export interface TableDeclaration {
  hashKey: { name: string; type: KeyType };
  rangeKey?: { name: string; type: KeyType };
  /** Attributes used as index keys (the table's own keys are declared above). @default [] */
  attributes?: { name: string; type: KeyType }[];
  globalSecondaryIndexes?: { name: string; hashKey: string; rangeKey?: string }[];
  /** Attribute holding an epoch-seconds expiry, for DynamoDB TTL. @default undefined (no TTL) */
  ttlAttribute?: string;
  /** Emit a stream of changes (required by a `stream` trigger on this table). @default undefined */
  stream?: "NEW_IMAGE" | "OLD_IMAGE" | "NEW_AND_OLD_IMAGES" | "KEYS_ONLY";
  /** Environment variable holding the table's name in functions that access it. @default `<TABLE>_TABLE_NAME` */
  env?: string;
}

export interface QueueDeclaration {
  /** Receives before a message moves to the queue's dead-letter queue. @default 3 */
  maxReceiveCount?: number;
  /** Environment variable holding the queue's URL in functions that send to it. @default `<QUEUE>_QUEUE_URL` */
  env?: string;
}

/**
 * A secret the service reads at run time, by reference: an SSM Parameter Store SecureString that an
 * operator writes (encrypted with the service's secrets key), never a value in the program.
 */
export interface SecretDeclaration {
  /** The parameter's name, starting with `/`. @example "/orders/webhook-signing-key" */
  parameter: string;
  /** Environment variable holding the parameter's NAME (never its value). @default `<SECRET>_PARAMETER_NAME` */
  env?: string;
}

/** The harmless request a PreTraffic hook sends to a new version before it takes traffic. */
export interface SmokeRequest {
  /** The concrete path (the route's template with values), with an optional query string. */
  path: string;
  body?: string;
  /** @default 200 */
  expectStatus?: number;
  /** Text the response body must contain. */
  expectBody?: string;
}

export interface HttpTrigger {
  type: "http";
  /** `METHOD /path/{param}`; the path must start with the service's base path. */
  route: string;
  /** @default the stage's `platform:apiAuth` */
  auth?: "public" | "iam" | "apiKey";
  smoke: SmokeRequest;
  /**
   * A retried request from the same caller (same `Idempotency-Key` header, or same body) gets the
   * first answer and changes nothing twice: the platform creates the service's idempotency table.
   * @default false
   */
  idempotent?: boolean;
}

export interface QueueTrigger {
  type: "queue";
  /** A key of the service's `queues`. */
  queue: string;
  /** Messages per invocation, 1 to 10000. @default 10 */
  batchSize?: number;
  /**
   * Seconds Lambda may wait to fill a batch, 0 to 300; at least 1 when `batchSize` is above 10
   * (Lambda refuses the mapping otherwise). @default 0
   */
  maxBatchingWindowSeconds?: number;
}

export interface StreamTrigger {
  type: "stream";
  /** A key of the service's `tables`; the table must declare `stream`. */
  table: string;
  /** Records per invocation, 1 to 10000. @default 100 */
  batchSize?: number;
  /** Retries of a failing batch (after bisecting) before it goes to the on-failure queue. @default 3 */
  maximumRetryAttempts?: number;
  /** Records older than this are sent to the on-failure queue unprocessed. @default 3600 */
  maximumRecordAgeSeconds?: number;
}

export interface ScheduleTrigger {
  type: "schedule";
  /** EventBridge Scheduler expression. @example "rate(1 hour)" @example "cron(0 6 * * ? *)" */
  expression: string;
  /** @default 2 */
  maximumRetryAttempts?: number;
  /** @default 3600 */
  maximumEventAgeSeconds?: number;
}

export type Trigger = HttpTrigger | QueueTrigger | StreamTrigger | ScheduleTrigger;

export interface FunctionDeclaration extends FunctionOverrides {
  /** The handler module, from the project root. @example "functions/users/list.ts" */
  handler: string;
  trigger: Trigger;
  access?: {
    /** Keys of the service's `tables`, with the access level. */
    tables?: Record<string, TableAccess>;
    /** Keys of the service's `queues` this function sends to. */
    sendTo?: string[];
    /** Keys of the service's `secrets` this function reads. */
    secrets?: string[];
  };
}

export interface ServiceDeclaration {
  /** Lower-case letters, digits and dashes; prefixes every logical name of the service. */
  name: string;
  /**
   * Where the service's HTTP routes are served: the stage's shared REST API under a base path
   * (every route's path starts with it; no two services share one), or a REST API of its own.
   */
  api: { basePath: string } | { own: true };
  tables?: Record<string, TableDeclaration>;
  queues?: Record<string, QueueDeclaration>;
  secrets?: Record<string, SecretDeclaration>;
  /** By function name (lower-case letters, digits, dashes). */
  functions: Record<string, FunctionDeclaration>;
  /** Overrides of stage settings for every function of the service. @default {} */
  overrides?: FunctionOverrides;
}

/** Identity, typed: lets a declaration file get checking and completion without a Pulumi import. */
export function defineService(service: ServiceDeclaration): ServiceDeclaration {
  return service;
}
