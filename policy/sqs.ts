import * as aws from "@pulumi/aws";
import {
  type PolicyResource,
  type ResourceValidationPolicy,
  type StackValidationPolicy,
  validateResourceOfType,
} from "@pulumi/policy";
import { knownString, lambdaIndex } from "./graph";
import { readKnown, reference, reportUnknown, stackGraph } from "./util";

const QUEUE = (aws.sqs.Queue as unknown as { __pulumiType: string }).__pulumiType;
const MAPPING = (aws.lambda.EventSourceMapping as unknown as { __pulumiType: string }).__pulumiType;

/** Lambda's guidance: a queue's visibility timeout is at least six times its consumer's timeout. */
export const DEFAULT_VISIBILITY_FACTOR = 6;

export const sqsQueueEncryption: ResourceValidationPolicy = {
  name: "sqs-queue-encryption",
  description: "Checks whether SQS queues are encrypted at rest (SQS-managed keys or a KMS key).",
  validateResource: validateResourceOfType(aws.sqs.Queue, (queue, args, report) => {
    const kms = readKnown(() => queue.kmsMasterKeyId);
    if (queue.sqsManagedSseEnabled === true || !kms.known || kms.value) return;
    report(`SQS queue ${args.name} must set sqsManagedSseEnabled to true or kmsMasterKeyId to a KMS key.`);
  }),
};

/** Each SQS event source mapping of the stack with its queue and function, when they are in the stack. */
function sqsConsumers(resources: readonly PolicyResource[]) {
  const graph = stackGraph(resources);
  const queues = graph.ofType(QUEUE);
  const lambdas = lambdaIndex(resources);
  return graph.ofType(MAPPING).flatMap((mapping) => {
    const source = reference(mapping, "eventSourceArn");
    const queue =
      source.dependencies.find((d) => d.type === QUEUE) ??
      queues.find((q) => source.value !== undefined && knownString(q, "arn") === source.value);
    if (!queue) return [];
    return [{ mapping, queue, fn: lambdas.resolve(reference(mapping, "functionName")) }];
  });
}

export const sqsConsumerFailureHandling: StackValidationPolicy = {
  name: "sqs-consumer-failure-handling",
  description:
    "Checks whether queues consumed by Lambda have a dead-letter queue and their event source mappings report batch item failures, so one bad message neither fails its batch nor loops forever.",
  validateStack: (args, report) => {
    for (const { mapping, queue } of sqsConsumers(args.resources)) {
      const redrive = readKnown(() => queue.props.redrivePolicy as unknown);
      if (redrive.known) {
        let target: unknown;
        try {
          const parsed = typeof redrive.value === "string" ? JSON.parse(redrive.value) : redrive.value;
          target = (parsed as { deadLetterTargetArn?: unknown } | undefined)?.deadLetterTargetArn;
        } catch {
          target = undefined;
        }
        if (!target) {
          report(
            `SQS queue ${queue.name}, consumed by Lambda through ${mapping.name}, must set a redrivePolicy with a deadLetterTargetArn, so that a message failing every receive is kept, not retried until it expires.`,
            queue.urn,
          );
        }
      } else {
        reportUnknown(report, `the redrive policy of SQS queue ${queue.name} is unknown.`, queue.urn);
      }
      const types = readKnown(() => mapping.props.functionResponseTypes as unknown);
      if (types.known && !(Array.isArray(types.value) && types.value.includes("ReportBatchItemFailures"))) {
        report(
          `Lambda event source mapping ${mapping.name} must set functionResponseTypes to ["ReportBatchItemFailures"], so that one failed message is retried alone, not with its whole batch.`,
          mapping.urn,
        );
      }
    }
  },
};

export const sqsVisibilityTimeout: StackValidationPolicy = {
  name: "sqs-visibility-timeout",
  description:
    "Checks whether queues consumed by Lambda have a visibility timeout of at least six times their consumer's timeout.",
  configSchema: {
    properties: {
      factor: {
        type: "number",
        minimum: 1,
        default: DEFAULT_VISIBILITY_FACTOR,
        description: "The least visibility timeout, as a multiple of the consumer's timeout.",
      },
    },
  },
  validateStack: (args, report) => {
    const factor = args.getConfig<{ factor?: number }>().factor ?? DEFAULT_VISIBILITY_FACTOR;
    for (const { mapping, queue, fn } of sqsConsumers(args.resources)) {
      if (!fn) continue;
      const timeout = readKnown(() => fn.props.timeout as number | undefined);
      const visibility = readKnown(() => queue.props.visibilityTimeoutSeconds as number | undefined);
      if (!timeout.known || !visibility.known) continue;
      // Lambda's and SQS's defaults: 3 s and 30 s.
      const least = (timeout.value ?? 3) * factor;
      const actual = visibility.value ?? 30;
      if (actual < least) {
        report(
          `SQS queue ${queue.name} has a visibility timeout of ${actual} s but its consumer ${fn.name} (via ${mapping.name}) may run ${timeout.value ?? 3} s: set visibilityTimeoutSeconds to at least ${least} (${factor} times the timeout), or messages are delivered twice while in flight.`,
          queue.urn,
        );
      }
    }
  },
};
